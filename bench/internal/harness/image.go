package harness

import (
	"fmt"
	"testing"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// BuildTestImage builds (once per process) minato's FROM-scratch test
// image from test/testapp, as the tests do, and returns its reference.
// Nothing is pulled.
func BuildTestImage() (ref string, err error) {
	t := &imageTB{}
	defer func() {
		for i := len(t.cleanups) - 1; i >= 0; i-- {
			t.cleanups[i]()
		}
		if r := recover(); r != nil {
			f, ok := r.(imageFailure)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("test image: %s", string(f))
		}
	}()
	return testimage.Build(t, ""), nil
}

// imageTB is the part of testing.TB that testimage uses; the embedded
// interface is nil, so anything else panics.
type imageTB struct {
	testing.TB
	cleanups []func()
}

type imageFailure string

func (t *imageTB) Helper()                         {}
func (t *imageTB) Cleanup(f func())                { t.cleanups = append(t.cleanups, f) }
func (t *imageTB) Logf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (t *imageTB) Fatal(args ...any)               { panic(imageFailure(fmt.Sprint(args...))) }
func (t *imageTB) Fatalf(format string, args ...any) {
	panic(imageFailure(fmt.Sprintf(format, args...)))
}
func (t *imageTB) Skip(args ...any) { panic(imageFailure(fmt.Sprint(args...))) }
func (t *imageTB) Skipf(format string, args ...any) {
	panic(imageFailure(fmt.Sprintf(format, args...)))
}
