//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package storebolt

import "os"

// mapFile does not map on this system: checkFile reads with ReadAt.
func mapFile(*os.File, int64) ([]byte, func()) { return nil, func() {} }
