package main

// Modes for ECS Exec tests; the image is FROM scratch and has no shell, so
// testapp stands in for one:
//
//	echo WORDS...  print WORDS and exit 0
//	big N          print N bytes ("x" lines of 128 bytes, the last one
//	               shorter) and exit 0
//	repl           a tiny interactive shell on stdin: it prints the prompt
//	               "$ " and runs each line: echo WORDS, big N, size (the
//	               terminal's "ROWS COLS"), exit CODE; EOF exits 0

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

var extraModes = map[string]func(args []string) int{
	"echo": func(args []string) int { fmt.Println(strings.Join(args, " ")); return 0 },
	"big":  bigMode,
	"repl": replMode,
}

func bigMode(args []string) int {
	if len(args) != 1 {
		return usage(fmt.Errorf("big N"))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return usage(err)
	}
	printBig(n)
	return 0
}

func printBig(n int) {
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	line := strings.Repeat("x", 127) + "\n"
	for n > 0 {
		k := min(n, len(line))
		w.WriteString(line[len(line)-k:])
		n -= k
	}
	w.Flush()
}

func replMode([]string) int {
	in := bufio.NewScanner(os.Stdin)
	for {
		fmt.Print("$ ")
		if !in.Scan() {
			return 0
		}
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "echo":
			fmt.Println(strings.Join(f[1:], " "))
		case "big":
			if len(f) == 2 {
				n, _ := strconv.Atoi(f[1])
				printBig(n)
			}
		case "size":
			var ws struct{ Row, Col, X, Y uint16 }
			syscall.Syscall(syscall.SYS_IOCTL, 0, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
			fmt.Printf("%d %d\n", ws.Row, ws.Col)
		case "exit":
			code := 0
			if len(f) == 2 {
				code, _ = strconv.Atoi(f[1])
			}
			return code
		default:
			fmt.Printf("repl: unknown command %q\n", f[0])
		}
	}
}
