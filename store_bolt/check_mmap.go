//go:build linux || darwin || freebsd || netbsd || openbsd

package storebolt

import (
	"os"
	"syscall"
)

// mapFile maps size bytes of f read-only, for checkFile to read pages without a system
// call each; nil when mapping fails (checkFile then reads with ReadAt).
func mapFile(f *os.File, size int64) (data []byte, unmap func()) {
	if size <= 0 || int64(int(size)) != size {
		return nil, func() {}
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, func() {}
	}
	return b, func() { _ = syscall.Munmap(b) }
}
