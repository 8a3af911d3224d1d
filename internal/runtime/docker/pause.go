package docker

// The pause image. An awsvpc task's containers share the network namespace
// of a container that only has to exist: the "pause" container. Kubernetes
// and the ECS agent pull an image for it; minato cannot pull anything, so it
// writes the image itself. The program is a handful of machine instructions
// that call pause(2) (ppoll on arm64, which has no pause) in a loop, wrapped
// in the smallest static ELF executable Linux will run: a 64-byte ELF header
// and one PT_LOAD program header mapping the whole file read+execute,
// followed by the code. The file goes into a one-file rootfs tar that Docker
// imports as an image with ENTRYPOINT ["/pause"]. Nothing binary is checked
// in: the bytes below are the whole story.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/minato-project/minato/internal/runtime"
)

// labelPauseHash on the pause image holds the SHA-256 of its program, so a
// minato whose program differs rebuilds the image.
const labelPauseHash = "minato.pause.sha256"

// pauseCode is the pause loop for each GOARCH.
var pauseCode = map[string]struct {
	machine elf.Machine
	code    []byte
}{
	// x86-64:
	//	loop: mov  eax, 34      ; b8 22 00 00 00  (SYS_pause)
	//	      syscall           ; 0f 05
	//	      jmp  loop         ; eb f7           (-9 bytes)
	"amd64": {elf.EM_X86_64, []byte{
		0xb8, 0x22, 0x00, 0x00, 0x00,
		0x0f, 0x05,
		0xeb, 0xf7,
	}},
	// AArch64 (little-endian 32-bit words):
	//	loop: movz x0, #0       ; d2800000  fds = NULL
	//	      movz x1, #0       ; d2800001  nfds = 0
	//	      movz x2, #0       ; d2800002  timeout = NULL (forever)
	//	      movz x3, #0       ; d2800003  sigmask = NULL
	//	      movz x8, #73      ; d2800928  SYS_ppoll
	//	      svc  #0           ; d4000001
	//	      b    loop         ; 17fffffa  (-6 instructions)
	"arm64": {elf.EM_AARCH64, words(
		0xd2800000, 0xd2800001, 0xd2800002, 0xd2800003,
		0xd2800928, 0xd4000001, 0x17fffffa,
	)},
}

func words(ws ...uint32) []byte {
	b := make([]byte, 4*len(ws))
	for i, w := range ws {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

// pauseBase is where the file is mapped: the usual start of a static
// executable, aligned for 64 KiB pages.
const pauseBase = 0x400000

// pauseELF returns the pause program for goarch as a static ELF executable.
func pauseELF(goarch string) ([]byte, error) {
	pc, ok := pauseCode[goarch]
	if !ok {
		return nil, fmt.Errorf("no pause program for architecture %q", goarch)
	}
	const ehsize, phsize = 64, 56
	size := uint64(ehsize + phsize + len(pc.code))
	hdr := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(pc.machine),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     pauseBase + ehsize + phsize,
		Phoff:     ehsize,
		Ehsize:    ehsize,
		Phentsize: phsize,
		Phnum:     1,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	hdr.Ident[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	prog := elf.Prog64{
		Type:   uint32(elf.PT_LOAD),
		Flags:  uint32(elf.PF_R | elf.PF_X),
		Off:    0,
		Vaddr:  pauseBase,
		Paddr:  pauseBase,
		Filesz: size,
		Memsz:  size,
		Align:  0x10000,
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, hdr); err != nil {
		return nil, err
	}
	if err := binary.Write(&buf, binary.LittleEndian, prog); err != nil {
		return nil, err
	}
	buf.Write(pc.code)
	return buf.Bytes(), nil
}

// pauseRootfs packs the program as /pause into a rootfs tar.
func pauseRootfs(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
	if err == nil {
		_, err = tw.Write(bin)
	}
	if err == nil {
		err = tw.Close()
	}
	return buf.Bytes(), err
}

// goArch maps Docker's architecture names to GOARCH.
func goArch(dockerArch string) string {
	switch dockerArch {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	}
	return dockerArch
}

// pauseLocks serializes the import of a pause image by reference across
// every Runtime in this process: each import makes a new image (its
// creation time differs), and a second one would leave the first dangling.
var pauseLocks sync.Map // reference -> *sync.Mutex

// ensurePauseImage imports the pause image for the engine's architecture
// unless an image with the same program is already there.
func (r *Runtime) ensurePauseImage(ctx context.Context) (string, error) {
	mu, _ := pauseLocks.LoadOrStore(r.pauseImage, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	info, err := r.cli.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("docker info: %w", err)
	}
	bin, err := pauseELF(goArch(info.Architecture))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(bin)
	hash := hex.EncodeToString(sum[:])
	if img, err := r.cli.ImageInspect(ctx, r.pauseImage); err == nil && img.Config != nil && img.Config.Labels[labelPauseHash] == hash {
		return r.pauseImage, nil
	}
	rootfs, err := pauseRootfs(bin)
	if err != nil {
		return "", err
	}
	rc, err := r.cli.ImageImport(ctx, image.ImportSource{Source: bytes.NewReader(rootfs), SourceName: "-"}, r.pauseImage, image.ImportOptions{
		Message: "minato pause: loops on pause(2)",
		Changes: []string{
			`ENTRYPOINT ["/pause"]`,
			fmt.Sprintf("LABEL %s=true %s=true %s=%s", runtime.LabelManaged, runtime.LabelPause, labelPauseHash, hash),
		},
	})
	if err == nil {
		err = readStream(rc)
		rc.Close()
	}
	if err != nil {
		return "", fmt.Errorf("import pause image %s: %w", r.pauseImage, err)
	}
	r.log.Info("built pause image", "image", r.pauseImage, "bytes", len(bin))
	return r.pauseImage, nil
}
