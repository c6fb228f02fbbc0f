package webhook_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// internalRefs are references to the project's own working documents, which a user of
// the module never sees: the specification file and the numbered source pages.
var internalRefs = regexp.MustCompile(`(?i)\bspec\.md\b|\bseeds? 0\d\d\b|\bseed's\b`)

// TestNoInternalReferences keeps the Go files (godoc, comments, test names) speaking of
// behaviour rather than of documents the user cannot read.
func TestNoInternalReferences(t *testing.T) {
	var bad []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if internalRefs.MatchString(line) {
				bad = append(bad, path+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Empty(t, bad, "Go files refer to internal documents; say what the behaviour is instead")
}
