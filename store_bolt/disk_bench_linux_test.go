package storebolt_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkDiskCommit is what a bbolt commit asks of the disk, without bbolt: write n
// pages of 4 KB, fdatasync, write one more page (the meta page), fdatasync again. The
// pages are either scattered over a written 64 MB file (as bbolt reuses freed pages) or
// one after the other into blocks never written, inside the file's size (as bbolt grows
// the file ahead of its writes). ns/op is one commit. It shows how much of a commit's
// time its pages take on this disk, and how much their scatter adds.
func BenchmarkDiskCommit(b *testing.B) {
	const fileSize = 64 << 20
	page := make([]byte, 4096)
	for _, layout := range []string{"scattered", "appended"} {
		for _, n := range []int{0, 1, 10, 40, 100} {
			b.Run(fmt.Sprintf("%s/pages=%d", layout, n), func(b *testing.B) {
				f, err := os.Create(filepath.Join(b.TempDir(), "disk"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				chunk := make([]byte, 1<<20)
				for off := int64(0); off < fileSize; off += int64(len(chunk)) {
					if _, err := f.WriteAt(chunk, off); err != nil {
						b.Fatal(err)
					}
				}
				// Room to append every page of the run, unwritten, inside the file's size.
				if err := f.Truncate(fileSize + int64(b.N*n+1)*4096); err != nil {
					b.Fatal(err)
				}
				if err := syscall.Fsync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
				end := int64(fileSize)
				b.ResetTimer()
				for range b.N {
					for range n {
						off := end
						if layout == "scattered" {
							off = 4096 * (1 + rand.Int64N(fileSize/4096-1))
						} else {
							end += 4096
						}
						if _, err := f.WriteAt(page, off); err != nil {
							b.Fatal(err)
						}
					}
					if err := syscall.Fdatasync(int(f.Fd())); err != nil {
						b.Fatal(err)
					}
					if _, err := f.WriteAt(page, 0); err != nil {
						b.Fatal(err)
					}
					if err := syscall.Fdatasync(int(f.Fd())); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
