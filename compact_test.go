package webhook

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// compactByStd is what appendCompactJSON must agree with: json.Compact's output, and
// whether json.Compact and json.Valid accept src.
func compactByStd(t testing.TB, src []byte) ([]byte, bool) {
	t.Helper()
	var buf bytes.Buffer
	err := json.Compact(&buf, src)
	if valid := json.Valid(src); valid != (err == nil) {
		t.Fatalf("json.Valid(%q) = %v but json.Compact says %v", src, valid, err)
	}
	return buf.Bytes(), err == nil
}

// checkCompact fails t unless appendCompactJSON agrees with encoding/json on src, and
// leaves the bytes before it alone.
func checkCompact(t testing.TB, src []byte) {
	t.Helper()
	want, wantOK := compactByStd(t, src)
	got, ok := appendCompactJSON([]byte("prefix"), src)
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("appendCompactJSON(%q) changed dst: %q", src, got)
	}
	if ok != wantOK {
		t.Fatalf("appendCompactJSON(%q) ok = %v, json.Valid says %v", src, ok, wantOK)
	}
	if ok && !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("appendCompactJSON(%q) = %q, json.Compact wrote %q", src, got[len("prefix"):], want)
	}
}

// compactSeeds are valid and invalid JSON texts around every rule of the grammar.
var compactSeeds = []string{
	payloadOrder, "{}", "[]", "null", "true", "false", "0", "-0", "1", "-1", "12.5e+3", "1E-2", "0.0",
	`""`, `"a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D\uDE00"`, "\"\xff\xfe\"", "\"\u2028<&>\"",
	" { \"a\" : [ 1 , 2 , { } , [ ] ] , \"b\" :\t\"x y\"\r\n}\n", "\t\n\r 1 \t\n\r",
	`{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a" 1}`, `[1 2]`, `1 2`, "", " ",
	"01", "-", "--1", "1.", ".5", "1e", "1e+", "+1", "0x10", "1.5.5", "Infinity", "NaN",
	"tru", "truee", "nul", "nulll", "fals", "True", `"abc`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"\x00\"", "\"\x1f\"",
	"\"\x7f\"", `"\`, `{"a":1`, `[1`, `{"a":[1,{"b":null}]}x`, "[1]\x00", "\xef\xbb\xbf{}",
}

func TestAppendCompactJSON(t *testing.T) {
	for _, s := range compactSeeds {
		checkCompact(t, []byte(s))
	}
}

// TestAppendCompactJSONMutations changes each byte of a document that uses every kind of
// value, one at a time, to each byte that means something in JSON, and checks every
// result against encoding/json.
func TestAppendCompactJSONMutations(t *testing.T) {
	doc := []byte(" {\"a\": [1, -2.5e+3, true, false, null, \"s\\n\\u00e9\"], \"b\": {\"c\": {}}, \"d\": []}\n")
	checkCompact(t, doc)
	meaningful := []byte(" \t\n\r{}[],:\"\\/0123456789-+.eEtrufalsn\x00\x1f\x7f\xff")
	for i := range doc {
		for _, c := range meaningful {
			m := bytes.Clone(doc)
			m[i] = c
			checkCompact(t, m)
		}
		checkCompact(t, doc[:i]) // every truncation too
		checkCompact(t, append(bytes.Clone(doc[:i]), doc[i+1:]...))
	}
}

func TestAppendCompactJSONDepth(t *testing.T) {
	for _, depth := range []int{maxJSONDepth, maxJSONDepth + 1} {
		for _, open := range []string{"[", `{"k":`} {
			closing := map[string]string{"[": "]", `{"k":`: "}"}[open]
			src := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(closing, depth))
			want, wantOK := compactByStd(t, src)
			got, ok := appendCompactJSON(nil, src)
			require.Equal(t, wantOK, ok, "depth %d of %s", depth, open)
			assert.Equal(t, depth <= maxJSONDepth, ok, "depth %d of %s", depth, open)
			if ok {
				assert.Equal(t, want, got)
			}
		}
	}
}

func FuzzCompactJSON(f *testing.F) {
	for _, s := range compactSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkCompact(t, src)
	})
}

func BenchmarkCompactJSON(b *testing.B) {
	src := []byte(payloadOrder)
	var indented bytes.Buffer
	require.NoError(b, json.Indent(&indented, src, "", "  "))
	for _, tc := range []struct {
		name string
		src  []byte
	}{{"compact", src}, {"indented", indented.Bytes()}} {
		b.Run(tc.name+"/ours", func(b *testing.B) {
			dst := make([]byte, 0, len(tc.src))
			b.SetBytes(int64(len(tc.src)))
			for b.Loop() {
				if _, ok := appendCompactJSON(dst[:0], tc.src); !ok {
					b.Fatal("refused")
				}
			}
		})
		b.Run(tc.name+"/json.Compact", func(b *testing.B) {
			var buf bytes.Buffer
			b.SetBytes(int64(len(tc.src)))
			for b.Loop() {
				buf.Reset()
				if err := json.Compact(&buf, tc.src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestHasStringSpecial checks the eight-byte test against a byte-by-byte one, for every
// byte value at every position among ordinary bytes, and for pairs of specials.
func TestHasStringSpecial(t *testing.T) {
	special := func(b []byte) bool {
		for _, c := range b {
			if !jsonStringByte[c] {
				return true
			}
		}
		return false
	}
	for _, fill := range []byte{'a', 0x80, 0xff, ' ', '#', '[', ']'} {
		for pos := range 8 {
			for c := range 256 {
				b := bytes.Repeat([]byte{fill}, 8)
				b[pos] = byte(c)
				got := hasStringSpecial(binary.LittleEndian.Uint64(b))
				require.Equal(t, special(b), got, "%q", b)
			}
		}
	}
	for p1 := range 8 {
		for p2 := range 8 {
			for _, c := range []byte{0, 0x1f, '"', '\\', 0x21, 0x5d} {
				b := []byte("abcdefgh")
				b[p1], b[p2] = c, 0x7f
				require.Equal(t, special(b), hasStringSpecial(binary.LittleEndian.Uint64(b)), "%q", b)
			}
		}
	}
}
