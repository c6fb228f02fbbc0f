package storebolt

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// checkFile walks every page of an open bbolt file that is in use, from its meta page down
// through every bucket, and checks what bbolt would otherwise trust: that each page lies
// within the file and is referenced once, has the type and the ID its parent expects,
// holds elements that lie within it, and keys in order within the bounds its parent
// sets; and that the free list (if the file has one) names only pages that are neither in
// use nor out of range. It reads the file through its own descriptor (mapped where the
// system allows), every access bounds-checked, in the caller's goroutine: a damaged file yields an error matching
// ErrCorrupt, never a crash. bbolt's own Tx.Check does not do for this: it reads pages
// through the memory map in a goroutine of its own, where a wild page ID is a fatal fault.
//
// The layout read here is bbolt's file format (version 2), which is stable: a 16-byte page
// header (id, flags, count, overflow), 16-byte branch elements (pos, ksize, pgid) and
// leaf elements (flags, pos, ksize, vsize), and bucket values of a root page ID and a
// sequence followed, for an inline bucket, by the bucket's page.
func checkFile(db *bolt.DB) error {
	f, err := os.Open(db.Path())
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	c := &checker{f: f, pageSize: db.Info().PageSize, size: info.Size()}
	var unmap func()
	c.mapped, unmap = mapFile(f, info.Size())
	defer unmap()
	// A page read through the map past the file's end (the file truncated meanwhile) is
	// a fault that guard turns into an error.
	return guard(c.run)
}

// Page layout constants of bbolt's file format.
const (
	pageHeaderSize  = 16
	elementSize     = 16
	bucketHeader    = 16
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
	metaPageFlag    = 0x04
	freelistFlag    = 0x10
	bucketLeafFlag  = 0x01
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	noFreelist      = ^uint64(0)
	metaChecksumEnd = 56 // bytes of the meta that its checksum covers
)

var ne = binary.NativeEndian // bbolt writes its structures in the machine's byte order

type checker struct {
	f        io.ReaderAt
	pageSize int
	size     int64
	hwm      uint64 // pages below this ID are the file's
	seen     bitmap // pages in use
	bufs     [][]byte
	mapped   []byte // the file, when mapped
}

// bitmap is a set of page IDs below the high-water mark.
type bitmap []uint64

func (b bitmap) has(id uint64) bool { return b[id/64]&(1<<(id%64)) != 0 }
func (b bitmap) add(id uint64)      { b[id/64] |= 1 << (id % 64) }

// meta is what the check needs of a meta page.
type meta struct {
	root, freelist, pgid, txid uint64
}

func (c *checker) run() error {
	m, err := c.meta()
	if err != nil {
		return err
	}
	c.hwm = m.pgid
	if c.hwm < 2 {
		return corrupt("the meta page says the file has %d pages", c.hwm)
	}
	// Compared in pages, so that a page count of any size cannot overflow into a
	// negative byte count that passes, and then sizes the bitmap below.
	if pages := uint64(c.size) / uint64(c.pageSize); c.hwm > pages {
		return corrupt("the file has %d pages, its meta page says %d: it was truncated", pages, c.hwm)
	}
	c.seen = make(bitmap, (c.hwm+63)/64)
	c.seen.add(0)
	c.seen.add(1)
	if m.root != 0 {
		if err := c.tree(m.root, nil, nil, 0); err != nil {
			return err
		}
	}
	if m.freelist != noFreelist {
		return c.freelist(m.freelist)
	}
	return nil
}

// meta reads both meta pages and returns the one bbolt uses: the valid one with the
// higher transaction ID.
func (c *checker) meta() (meta, error) {
	var best meta
	found := false
	for id := range uint64(2) {
		buf := make([]byte, pageHeaderSize+64)
		if _, err := c.f.ReadAt(buf, int64(id)*int64(c.pageSize)); err != nil {
			continue
		}
		b := buf[pageHeaderSize:]
		if ne.Uint32(b[0:]) != boltMagic || ne.Uint32(b[4:]) != boltVersion {
			continue
		}
		h := fnv.New64a()
		h.Write(b[:metaChecksumEnd])
		if h.Sum64() != ne.Uint64(b[metaChecksumEnd:]) {
			continue
		}
		m := meta{root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]), pgid: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
		if !found || m.txid > best.txid {
			best, found = m, true
		}
	}
	if !found {
		return meta{}, corrupt("no valid meta page")
	}
	return best, nil
}

// page returns the page with this ID, overflow included, and checks its header. Without
// the map, the page is read into the buffer of its depth in the tree, which it keeps until
// the next page of that depth is read: a page's keys bound its children's, read deeper.
func (c *checker) page(id uint64, depth int) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, corrupt("page %d is out of range (the file has %d)", id, c.hwm)
	}
	off := int64(id) * int64(c.pageSize)
	var buf []byte
	if c.mapped != nil {
		buf = c.mapped[off : off+int64(c.pageSize)] // within the file: id < hwm
	} else {
		for len(c.bufs) <= depth {
			c.bufs = append(c.bufs, make([]byte, c.pageSize))
		}
		buf = c.bufs[depth][:c.pageSize]
		if _, err := c.f.ReadAt(buf, off); err != nil {
			return nil, corrupt("page %d: %v", id, err)
		}
	}
	if got := ne.Uint64(buf); got != id {
		return nil, corrupt("page %d says it is page %d", id, got)
	}
	overflow := uint64(ne.Uint32(buf[12:]))
	if overflow >= c.hwm-id {
		return nil, corrupt("page %d runs past the end of the file (%d overflow pages)", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if c.seen.has(i) {
			return nil, corrupt("page %d is used twice", i)
		}
		c.seen.add(i)
	}
	if overflow == 0 {
		return buf, nil
	}
	end := off + int64(overflow+1)*int64(c.pageSize)
	if c.mapped != nil {
		return c.mapped[off:end], nil
	}
	buf = append(buf, make([]byte, end-off-int64(c.pageSize))...)
	if _, err := c.f.ReadAt(buf[c.pageSize:], off+int64(c.pageSize)); err != nil {
		return nil, corrupt("page %d: %v", id, err)
	}
	c.bufs[depth] = buf
	return buf, nil
}

// tree checks the B+tree under page id, whose keys must lie in [lo, hi) (nil: unbounded).
// depth guards against a cycle that the seen set would catch anyway.
func (c *checker) tree(id uint64, lo, hi []byte, depth int) error {
	if depth > 64 {
		return corrupt("page %d: the tree is too deep", id)
	}
	p, err := c.page(id, depth)
	if err != nil {
		return err
	}
	return c.node(p, id, lo, hi, depth)
}

// node checks a branch or leaf page (p, header included) and what hangs under it.
func (c *checker) node(p []byte, id uint64, lo, hi []byte, depth int) error {
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > len(p) {
		return corrupt("page %d: %d elements do not fit", id, count)
	}
	// Key and value of element i; elements address their data relative to themselves.
	field := func(i, pos, n int) ([]byte, error) {
		start := pageHeaderSize + i*elementSize + pos
		if pos < 0 || n < 0 || start+n > len(p) || start+n < start {
			return nil, corrupt("page %d: element %d points outside the page", id, i)
		}
		return p[start : start+n], nil
	}
	prev := lo
	switch flags {
	case branchPageFlag:
		if count == 0 {
			return corrupt("page %d: an empty branch", id)
		}
		for i := range count {
			e := p[pageHeaderSize+i*elementSize:]
			key, err := field(i, int(ne.Uint32(e[0:])), int(ne.Uint32(e[4:])))
			if err != nil {
				return err
			}
			if err := c.order(id, i, prev, key, hi); err != nil {
				return err
			}
			prev = key
			next := hi
			if i+1 < count {
				n := p[pageHeaderSize+(i+1)*elementSize:]
				if next, err = field(i+1, int(ne.Uint32(n[0:])), int(ne.Uint32(n[4:]))); err != nil {
					return err
				}
			}
			if err := c.tree(ne.Uint64(e[8:]), key, next, depth+1); err != nil {
				return err
			}
		}
	case leafPageFlag:
		for i := range count {
			e := p[pageHeaderSize+i*elementSize:]
			pos, ksize, vsize := int(ne.Uint32(e[4:])), int(ne.Uint32(e[8:])), int(ne.Uint32(e[12:]))
			kv, err := field(i, pos, ksize+vsize)
			if err != nil {
				return err
			}
			key, value := kv[:ksize], kv[ksize:]
			if i == 0 && lo != nil && bytes.Compare(key, lo) < 0 {
				return corrupt("page %d: key %d is before its parent's bound", id, i)
			}
			if i > 0 {
				if err := c.order(id, i, prev, key, hi); err != nil {
					return err
				}
			} else if hi != nil && bytes.Compare(key, hi) >= 0 {
				return corrupt("page %d: key %d is after its parent's bound", id, i)
			}
			prev = key
			if ne.Uint32(e[0:])&bucketLeafFlag != 0 {
				if err := c.bucket(id, i, value, depth); err != nil {
					return err
				}
			}
		}
	default:
		return corrupt("page %d is not a branch or leaf page (flags %#x)", id, flags)
	}
	return nil
}

// order checks that key follows prev (strictly) and comes before hi.
func (c *checker) order(id uint64, i int, prev, key, hi []byte) error {
	if prev != nil && bytes.Compare(key, prev) < 0 || (i > 0 && bytes.Equal(key, prev)) {
		return corrupt("page %d: key %d is out of order", id, i)
	}
	if hi != nil && bytes.Compare(key, hi) >= 0 {
		return corrupt("page %d: key %d is after its parent's bound", id, i)
	}
	return nil
}

// bucket checks a nested bucket: its root page, or the inline page in its value.
func (c *checker) bucket(id uint64, i int, value []byte, depth int) error {
	if len(value) < bucketHeader {
		return corrupt("page %d: bucket %d has a %d-byte header", id, i, len(value))
	}
	if root := ne.Uint64(value); root != 0 {
		return c.tree(root, nil, nil, depth+1)
	}
	inline := value[bucketHeader:]
	if len(inline) < pageHeaderSize {
		return corrupt("page %d: inline bucket %d is too short", id, i)
	}
	if flags := ne.Uint16(inline[8:]); flags != leafPageFlag {
		return corrupt("page %d: inline bucket %d is not a leaf (flags %#x)", id, i, flags)
	}
	return c.node(inline, id, nil, nil, depth+1)
}

// freelist checks the free list page: every free page is in range, once, and not in use.
func (c *checker) freelist(id uint64) error {
	p, err := c.page(id, 0)
	if err != nil {
		return err
	}
	if flags := ne.Uint16(p[8:]); flags != freelistFlag {
		return corrupt("page %d is not the free list (flags %#x)", id, flags)
	}
	n, start := uint64(ne.Uint16(p[10:])), pageHeaderSize
	if n == 0xFFFF { // the count is in the first element
		if len(p) < pageHeaderSize+8 {
			return corrupt("free list page %d is too short", id)
		}
		n, start = ne.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > uint64(len(p)-start)/8 {
		return corrupt("free list page %d: %d IDs do not fit", id, n)
	}
	free := make(map[uint64]bool, n)
	for i := range n {
		f := ne.Uint64(p[start+int(i)*8:])
		switch {
		case f < 2 || f >= c.hwm:
			return corrupt("free list: page %d is out of range", f)
		case free[f]:
			return corrupt("free list: page %d is free twice", f)
		case c.seen.has(f):
			return corrupt("free list: page %d is free and in use", f)
		}
		free[f] = true
	}
	return nil
}
