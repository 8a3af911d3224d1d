package docker

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"syscall"
	"testing"
	"time"
)

// TestPauseELF checks that the synthesized program is a well-formed static
// executable for each architecture: one loadable, executable segment that
// covers the file, with the entry point at the code.
func TestPauseELF(t *testing.T) {
	for arch, want := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		t.Run(arch, func(t *testing.T) {
			bin, err := pauseELF(arch)
			if err != nil {
				t.Fatal(err)
			}
			f, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil {
				t.Fatal(err)
			}
			if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_EXEC || f.Machine != want {
				t.Fatalf("header %+v", f.FileHeader)
			}
			if len(f.Progs) != 1 {
				t.Fatalf("%d program headers", len(f.Progs))
			}
			p := f.Progs[0]
			if p.Type != elf.PT_LOAD || p.Flags != elf.PF_R|elf.PF_X || p.Off != 0 || p.Filesz != uint64(len(bin)) || p.Memsz != p.Filesz {
				t.Fatalf("segment %+v", p.ProgHeader)
			}
			code := pauseCode[arch].code
			if f.Entry != p.Vaddr+uint64(len(bin)-len(code)) || !bytes.Equal(bin[len(bin)-len(code):], code) {
				t.Fatalf("entry %#x does not point at the code", f.Entry)
			}
			if len(bin) > 256 {
				t.Fatalf("%d bytes: the program should be tiny", len(bin))
			}
		})
	}
	if _, err := pauseELF("mips"); err == nil {
		t.Fatal("an unknown architecture must fail")
	}
}

// TestPauseRuns executes the program for this machine: it must keep
// running (pause returns only for a handled signal) until killed.
func TestPauseRuns(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("the pause program is a Linux executable")
	}
	bin, err := pauseELF(goruntime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("pause exited by itself: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	_ = cmd.Process.Kill()
	err = <-done
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("want death by SIGKILL, got %v", err)
	}
}

func TestPauseRootfs(t *testing.T) {
	bin, _ := pauseELF("amd64")
	b, err := pauseRootfs(bin)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	h, err := tr.Next()
	if err != nil || h.Name != "pause" || h.Mode != 0o755 || h.Size != int64(len(bin)) {
		t.Fatalf("entry %+v, %v", h, err)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("want one file, got %v", err)
	}
}
