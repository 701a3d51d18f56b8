package bench

import (
	"os"
	"syscall"
)

// datasync is fdatasync, the call the fragment store makes, so the baseline
// pays for exactly the same durability.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
