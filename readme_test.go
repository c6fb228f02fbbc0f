package webhook_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readmeSnippet returns the first ```go block after the README heading.
func readmeSnippet(t *testing.T, heading string) string {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(raw), "\n"+heading+"\n")
	require.True(t, ok, "README has the heading %q", heading)
	_, rest, ok = strings.Cut(rest, "```go\n")
	require.True(t, ok, "a go block follows %q", heading)
	code, _, ok := strings.Cut(rest, "```")
	require.True(t, ok, "the go block is closed")
	return code
}

// TestREADMEHappyPathCompiles builds the README's happy path exactly as written, as the
// body of run(ctx context.Context, order any) error, so that what a newcomer copies
// compiles and checks each error before deferring a Close.
func TestREADMEHappyPathCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go command is not on PATH")
		}
		t.Skip("the go command is not on PATH")
	}
	code := readmeSnippet(t, "## In a few lines")
	src := `package main

import (
	"context"
	"fmt"

	"github.com/shophooks/webhook"
	"github.com/shophooks/webhook/eventtypes"
	storebolt "github.com/shophooks/webhook/store_bolt"
)

func main() { _ = run(context.Background(), map[string]any{"id": "ord_1"}) }

func run(ctx context.Context, order any) error {
` + code + `	return nil
}
`
	// The program lives in the module only through an overlay: nothing is written to the
	// source tree.
	dir := t.TempDir()
	file := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(file, []byte(src), 0o600))
	wd, err := os.Getwd()
	require.NoError(t, err)
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(wd, "internal", "readmecheck", "main.go"): file},
	})
	require.NoError(t, err)
	overlayFile := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, overlay, 0o600))

	cmd := exec.Command(goBin, "build", "-o", os.DevNull, "-overlay", overlayFile, "./internal/readmecheck")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the README's code does not compile:\n%s\n%s", out, src)
}
