//go:build !linux

package fragstore

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
