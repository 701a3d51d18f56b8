//go:build !unix

package fragstore

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir on platforms without flock only creates the lock file; running two
// stores on one directory there is the caller's responsibility.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fragstore: open lock file: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) {
	if f != nil {
		f.Close()
	}
}
