package webhook

// This file turns an event into the bytes (or query parameters) that go on the wire. All three
// formats carry the same envelope: the event ID, its type, when it happened, and its data.
//
// JSON (FormatJSON) is the envelope as one compact object:
//
//	{"id":"evt_1","type":"order.created","timestamp":"2026-01-02T03:04:05.123Z","data":{...}}
//
// XML (FormatXML) is the same envelope as a document whose root is <webhook>:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<webhook><id>evt_1</id><type>order.created</type><timestamp>2026-01-02T03:04:05.123Z</timestamp><data type="object">...</data></webhook>
//
// The data, arbitrary JSON, becomes the <data> element and its children by these rules,
// chosen so that the document is always well-formed XML 1.0 and the JSON value can be rebuilt
// from it exactly, apart from characters that XML cannot carry:
//
//   - An object is an element with type="object" and one child per member, in the order of
//     the members in the JSON (duplicates included). A child is named by its key when the key
//     is a safe XML name: ASCII letters, digits, '_', '-' and '.', starting with a letter or
//     '_' and not with "xml" in any case. Any other key is sanitised (each disallowed
//     character becomes '_', and '_' is put in front of a leading digit, '-', '.' or "xml",
//     or stands alone for the empty key) and the original key is kept in a key attribute:
//     {"first name":"Ann"} -> <first_name key="first name">Ann</first_name>.
//   - An array is an element with type="array" and one <item> child per element:
//     "tags":["a","b"] -> <tags type="array"><item>a</item><item>b</item></tags>.
//   - A string is the element's text, with no type attribute. Characters that XML 1.0
//     forbids (most control characters, U+FFFE, U+FFFF), like invalid UTF-8 and lone
//     surrogates, become U+FFFD; tab, newline and carriage return are written as character
//     references so that parsers keep them.
//   - A number is the element's text exactly as written in the JSON (no rounding, so
//     12345678901234567890 stays as it is), with type="number".
//   - true and false are the element's text, with type="boolean".
//   - null is an empty element with nil="true": <coupon nil="true"/>.
//
// Query (FormatQuery) is a handful of GET parameters, see queryParams.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// envelope is the event as it is sent: {"id","type","timestamp","data"}. It is the single
// source of every wire format, so the JSON body, the XML body and the query parameters of an
// event always agree.
type envelope struct {
	// ID is the event ID, the same on every delivery and retry of the event.
	ID string `json:"id"`
	// Type is the event type name, such as "order.created".
	Type string `json:"type"`
	// Timestamp is when the event happened. It is written in RFC 3339 in UTC with as many
	// fractional digits as it needs (time.RFC3339Nano), whatever its location.
	Timestamp time.Time `json:"timestamp"`
	// Data is the resource data, a JSON value (normally an object). Empty means null.
	Data json.RawMessage `json:"data"`
}

// encodeEnvelope returns the JSON body of e:
//
//	{"id":"...","type":"order.created","timestamp":"<RFC 3339 UTC>","data":{...}}
//
// The result parses to the same value as json.Marshal(e) with e.Timestamp in UTC, with two
// deliberate differences in spelling: the characters <, > and & are not escaped (a webhook
// body is never embedded in HTML, and receivers see the data as the application wrote it),
// and the data is compacted but otherwise copied as it is, so its member order and number
// spellings are kept. Invalid UTF-8 anywhere becomes U+FFFD, so the body is always valid
// UTF-8 JSON (RFC 8259).
//
// It returns an error if e.Data is not valid JSON or e.Timestamp's year is outside
// 0000-9999, which RFC 3339 cannot represent.
//
// With checked, e.Data is known to be compact, valid UTF-8 JSON already (Emit's, see
// stamp) and is copied without a look.
func encodeEnvelope(e envelope, checked bool) ([]byte, error) {
	data := []byte(e.Data)
	if len(data) == 0 {
		data, checked = []byte("null"), true
	}
	if !checked && !utf8.Valid(data) {
		data = replaceInvalidUTF8(data)
	}

	// One allocation for a typical body: the envelope's own bytes rarely exceed 96.
	b := make([]byte, 0, len(data)+len(e.ID)+len(e.Type)+96)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"timestamp":"`...)
	b, err := appendRFC3339UTC(b, e.Timestamp)
	if err != nil {
		return nil, err
	}
	b = append(b, `","data":`...)
	if checked {
		return append(append(b, data...), '}'), nil
	}
	b, ok := appendCompactJSON(b, data)
	if !ok {
		// Let encoding/json say what is wrong, in its words.
		err := json.Compact(new(bytes.Buffer), data)
		return nil, fmt.Errorf("webhook: event %q: data is not valid JSON: %w", e.ID, cmp.Or(err, errInvalidJSON))
	}
	return append(b, '}'), nil
}

// stampLen is the length of the stamp Emit writes after the data it checked.
const stampLen = 16

// stamp marks data that Emit has checked (compact, valid UTF-8 JSON) as such, for the
// attempts that send it: it writes the dispatcher's random stampKey just past the data's
// end, in spare capacity of its slice that nothing reads, and returns the data (copied
// when its slice has no room). A store that keeps the very bytes it is given (the memory
// store) hands them back with the stamp, and their attempts copy the data into the
// envelope instead of checking it again; data read back as a copy (a durable store's, or
// an event this dispatcher did not emit) carries no stamp and is checked on every
// attempt. data must be fresh: no one else may hold its slice.
func (d *Dispatcher) stamp(data []byte) []byte {
	if cap(data)-len(data) < stampLen {
		data = append(make([]byte, 0, len(data)+stampLen), data...)
	}
	copy(data[len(data):len(data)+stampLen], d.stampKey[:])
	return data
}

// stamped reports whether data carries this dispatcher's stamp: it is bytes Emit checked.
func (d *Dispatcher) stamped(data []byte) bool {
	n := len(data)
	return n > 0 && cap(data)-n >= stampLen && [stampLen]byte(data[n:n+stampLen]) == d.stampKey
}

// errInvalidJSON reports data that appendCompactJSON refused and json.Compact did not; it
// should never be seen.
var errInvalidJSON = errors.New("invalid JSON")

// appendCompactJSON appends the JSON value src to dst without insignificant whitespace,
// exactly as json.Compact writes it, and reports whether src is valid as json.Valid
// judges: one JSON value, whitespace around it at most, nested no deeper than
// maxJSONDepth. It is several times faster than json.Compact, and copies data that is
// compact already (what json.Marshal writes, what Emit stores) in one piece. When src is
// not valid, the appended bytes are garbage; dst's original bytes are untouched.
func appendCompactJSON(dst, src []byte) ([]byte, bool) {
	c := jsonCompactor{src: src, dst: dst}
	i := c.space(0)
	i, ok := c.value(i, 0)
	if !ok {
		return dst, false
	}
	if i = c.space(i); i != len(src) {
		return dst, false
	}
	return append(c.dst, src[c.start:]...), true
}

// maxJSONDepth is how deeply arrays and objects may nest: encoding/json's limit.
const maxJSONDepth = 10000

// withinDepth reports whether src, valid JSON, nests no deeper than maxJSONDepth. Every
// level takes two bytes, so short data (every usual event) is not looked at.
func withinDepth(src []byte) bool {
	if len(src) <= 2*maxJSONDepth {
		return true
	}
	c := jsonCompactor{src: src}
	_, ok := c.value(c.space(0), 0)
	return ok
}

// jsonCompactor is the state of appendCompactJSON: src[start:] is what has not been
// copied to dst yet.
type jsonCompactor struct {
	src, dst []byte
	start    int
}

// jsonStringByte marks the bytes that may stand for themselves inside a JSON string: all
// but the control characters, the quote and the backslash.
var jsonStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// isJSONSpace reports whether c is insignificant whitespace in JSON.
func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// space skips the whitespace at src[i:], leaving it out of dst, and returns the index
// after it.
func (c *jsonCompactor) space(i int) int {
	if i < len(c.src) && c.src[i] > ' ' {
		return i // the usual case, inlined: no whitespace
	}
	return c.skipSpace(i)
}

// skipSpace is space's slow path.
func (c *jsonCompactor) skipSpace(i int) int {
	if i >= len(c.src) || !isJSONSpace(c.src[i]) {
		return i
	}
	c.dst = append(c.dst, c.src[c.start:i]...)
	for i < len(c.src) && isJSONSpace(c.src[i]) {
		i++
	}
	c.start = i
	return i
}

// value checks the value at src[i:], at nesting depth depth, and returns the index after
// it.
func (c *jsonCompactor) value(i, depth int) (int, bool) {
	src := c.src
	if i >= len(src) {
		return i, false
	}
	switch src[i] {
	case '{':
		if depth++; depth > maxJSONDepth {
			return i, false
		}
		if i = c.space(i + 1); i < len(src) && src[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(src) || src[i] != '"' {
				return i, false
			}
			var ok bool
			if i, ok = c.str(i); !ok {
				return i, false
			}
			if i = c.space(i); i >= len(src) || src[i] != ':' {
				return i, false
			}
			if i, ok = c.value(c.space(i+1), depth); !ok {
				return i, false
			}
			if i = c.space(i); i >= len(src) {
				return i, false
			}
			switch src[i] {
			case ',':
				i = c.space(i + 1)
			case '}':
				return i + 1, true
			default:
				return i, false
			}
		}
	case '[':
		if depth++; depth > maxJSONDepth {
			return i, false
		}
		if i = c.space(i + 1); i < len(src) && src[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = c.value(i, depth); !ok {
				return i, false
			}
			if i = c.space(i); i >= len(src) {
				return i, false
			}
			switch src[i] {
			case ',':
				i = c.space(i + 1)
			case ']':
				return i + 1, true
			default:
				return i, false
			}
		}
	case '"':
		return c.str(i)
	case 't':
		return literal(src, i, "true")
	case 'f':
		return literal(src, i, "false")
	case 'n':
		return literal(src, i, "null")
	default:
		return number(src, i)
	}
}

// str checks the string that starts with the quote at src[i] and returns the index after
// its closing quote.
func (c *jsonCompactor) str(i int) (int, bool) {
	src := c.src
	for i++; ; {
		// Eight bytes at a time while none needs a look, then byte by byte.
		for i+8 <= len(src) && !hasStringSpecial(binary.LittleEndian.Uint64(src[i:])) {
			i += 8
		}
		for i < len(src) && jsonStringByte[src[i]] {
			i++
		}
		if i >= len(src) {
			return i, false
		}
		switch src[i] {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 >= len(src) {
				return i, false
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) || !isHex(src[i+2]) || !isHex(src[i+3]) || !isHex(src[i+4]) || !isHex(src[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		default: // a control character
			return i, false
		}
	}
}

// hasStringSpecial reports whether any of the eight bytes in x is a control character, a
// quote or a backslash (bytes from 0x80 up never are). It may report true for a byte
// just above a special one, never false for a special one: callers then look byte by
// byte.
func hasStringSpecial(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - ones*0x20) &^ x // the high bit set where a byte is below 0x20
	q := x ^ ones*'"'             // zero bytes where x has a quote
	quote := (q - ones) &^ q
	b := x ^ ones*'\\' // zero bytes where x has a backslash
	slash := (b - ones) &^ b
	return (below|quote|slash)&highs != 0
}

// literal checks that src[i:] starts with word (true, false or null).
func literal(src []byte, i int, word string) (int, bool) {
	if len(src)-i < len(word) || string(src[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

// number checks the number at src[i:]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func number(src []byte, i int) (int, bool) {
	if i < len(src) && src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && '1' <= src[i] && src[i] <= '9':
		i = digits(src, i+1)
	default:
		return i, false
	}
	if i < len(src) && src[i] == '.' {
		j := digits(src, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		j := digits(src, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

// digits returns the index after the decimal digits at src[i:].
func digits(src []byte, i int) int {
	for i < len(src) && '0' <= src[i] && src[i] <= '9' {
		i++
	}
	return i
}

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// appendRFC3339UTC appends t in UTC as RFC 3339 with sub-second precision, the spelling of
// the envelope's timestamp in every format. It fails, as json.Marshal does, for a year that
// RFC 3339 cannot represent.
func appendRFC3339UTC(b []byte, t time.Time) ([]byte, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("webhook: timestamp %v: year outside 0000-9999 cannot be written in RFC 3339", t)
	}
	return t.AppendFormat(b, time.RFC3339Nano), nil
}

// replaceInvalidUTF8 returns data with each byte that is not part of a valid UTF-8 sequence
// replaced by the escape \ufffd, as json.Unmarshal would read it. Outside strings valid JSON
// is ASCII, so such bytes can only be inside strings, where the escape is always allowed.
func replaceInvalidUTF8(data []byte) []byte {
	out := make([]byte, 0, len(data)+16)
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, `\ufffd`...)
		} else {
			out = append(out, data[i:i+size]...)
		}
		i += size
	}
	return out
}

// jsonHex is the digits of \u escapes.
const jsonHex = "0123456789abcdef"

// appendJSONString appends s to b as a JSON string, escaped as json.Marshal escapes it except
// that <, > and & are left as they are: quotes, backslashes and control characters are
// escaped, invalid UTF-8 becomes \ufffd, and U+2028 and U+2029 are escaped for JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	i := jsonPlainPrefix(s)
	if i == len(s) {
		return append(append(b, s...), '"') // IDs and type names: nothing to escape
	}
	start := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', jsonHex[c>>4], jsonHex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', jsonHex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonPlainPrefix is the length of the start of s that a JSON string holds as it is: ASCII
// from the space up but the quote and the backslash. It looks at eight bytes at a time.
func jsonPlainPrefix(s string) int {
	const highs = 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		if x&highs != 0 || hasStringSpecial(x) {
			break // non-ASCII or special ahead: byte by byte from here
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			break
		}
	}
	return i
}

// jsonStringLen is len(appendJSONString(nil, s)), without writing it.
func jsonStringLen(s string) int {
	i := jsonPlainPrefix(s)
	n := 2 + i // the quotes and the bytes written as they are
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			switch {
			case c >= 0x20 && c != '"' && c != '\\':
				n++
			case c == '"', c == '\\', c == '\b', c == '\f', c == '\n', c == '\r', c == '\t':
				n += 2
			default:
				n += 6 // \u00XX
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6 // \ufffd, \u2028, \u2029
		default:
			n += size
		}
		i += size
	}
	return n
}

// encodeXML returns the XML body of e, the envelope under a <webhook> root:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<webhook><id>evt_1</id><type>order.created</type><timestamp>...</timestamp><data type="object">...</data></webhook>
//
// The data is converted by the rules in this file's header comment: the output is
// deterministic, follows the JSON's member order, keeps numbers exactly, and is well-formed
// XML 1.0 for every valid JSON input. Empty data is written as null.
//
// It returns an error if e.Data is not valid JSON or e.Timestamp's year is outside
// 0000-9999.
func encodeXML(e envelope) ([]byte, error) {
	ts, err := appendRFC3339UTC(nil, e.Timestamp)
	if err != nil {
		return nil, err
	}
	data := []byte(e.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	// Valid also bounds the nesting depth, which keeps the recursion below finite.
	if !json.Valid(data) {
		return nil, fmt.Errorf("webhook: event %q: data is not valid JSON", e.ID)
	}

	var buf bytes.Buffer
	buf.Grow(2*len(data) + len(e.ID) + len(e.Type) + 160)
	buf.WriteString(xml.Header)
	buf.WriteString("<webhook><id>")
	writeXMLText(&buf, e.ID)
	buf.WriteString("</id><type>")
	writeXMLText(&buf, e.Type)
	buf.WriteString("</type><timestamp>")
	buf.Write(ts)
	buf.WriteString("</timestamp>")

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := writeXMLValue(&buf, dec, "data", "", false); err != nil {
		return nil, fmt.Errorf("webhook: event %q: converting data to XML: %w", e.ID, err)
	}
	buf.WriteString("</webhook>")
	return buf.Bytes(), nil
}

// errXMLUnexpectedToken reports a JSON token stream that json.Valid accepted but the
// converter did not expect; it should never be seen.
var errXMLUnexpectedToken = errors.New("unexpected JSON token")

// writeXMLValue reads the next JSON value from dec and writes it as one element called name,
// with a key attribute holding key when hasKey is set.
func writeXMLValue(buf *bytes.Buffer, dec *json.Decoder, name, key string, hasKey bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	// startTag writes the element's name and key attribute, leaving the tag open.
	startTag := func() {
		buf.WriteByte('<')
		buf.WriteString(name)
		if hasKey {
			buf.WriteString(` key="`)
			writeXMLText(buf, key)
			buf.WriteByte('"')
		}
	}
	openTag := func(typ string) {
		startTag()
		if typ != "" {
			buf.WriteString(` type="`)
			buf.WriteString(typ)
			buf.WriteByte('"')
		}
		buf.WriteByte('>')
	}
	closeTag := func() {
		buf.WriteString("</")
		buf.WriteString(name)
		buf.WriteByte('>')
	}

	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			openTag("object")
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return err
				}
				k, ok := tok.(string)
				if !ok {
					return errXMLUnexpectedToken
				}
				childName, renamed := xmlElementName(k)
				if err := writeXMLValue(buf, dec, childName, k, renamed); err != nil {
					return err
				}
			}
		case '[':
			openTag("array")
			for dec.More() {
				if err := writeXMLValue(buf, dec, "item", "", false); err != nil {
					return err
				}
			}
		default:
			return errXMLUnexpectedToken
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return err
		}
		closeTag()
	case string:
		openTag("")
		writeXMLText(buf, v)
		closeTag()
	case json.Number:
		openTag("number")
		buf.WriteString(string(v)) // JSON number syntax needs no XML escaping
		closeTag()
	case bool:
		openTag("boolean")
		buf.WriteString(strconv.FormatBool(v))
		closeTag()
	case nil:
		startTag()
		buf.WriteString(` nil="true"/>`)
	default:
		return errXMLUnexpectedToken
	}
	return nil
}

// writeXMLText writes s escaped for XML text and attribute values. Characters XML 1.0
// forbids and invalid UTF-8 become U+FFFD; tab, newline and carriage return become character
// references so that no parser normalises them away.
func writeXMLText(buf *bytes.Buffer, s string) {
	// A bytes.Buffer never fails to write.
	_ = xml.EscapeText(buf, []byte(s))
}

// xmlElementName returns the element name for the JSON object key k, and whether it differs
// from k (and so the original must be kept in a key attribute). Names are kept to a safe ASCII
// subset of XML names, so that every parser accepts them and none reads a namespace prefix
// into them.
func xmlElementName(k string) (name string, renamed bool) {
	if isSafeXMLName(k) {
		return k, false
	}
	// b[0] is room for a leading '_'; each disallowed character, not byte, becomes one '_'.
	b := make([]byte, 1, len(k)+1)
	for _, r := range k {
		if r < utf8.RuneSelf && isXMLNameByte(byte(r)) {
			b = append(b, byte(r))
		} else {
			b = append(b, '_')
		}
	}
	if len(b) > 1 && isXMLNameStart(b[1]) && !hasXMLPrefix(string(b[1:])) {
		b = b[1:]
	} else {
		b[0] = '_'
	}
	return string(b), true
}

// isSafeXMLName reports whether s can be used as an element name as it is.
func isSafeXMLName(s string) bool {
	if s == "" || !isXMLNameStart(s[0]) || hasXMLPrefix(s) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isXMLNameByte(s[i]) {
			return false
		}
	}
	return true
}

// isXMLNameStart reports whether c may begin an element name.
func isXMLNameStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isXMLNameByte reports whether c may appear in an element name after the first character.
func isXMLNameByte(c byte) bool {
	return isXMLNameStart(c) || '0' <= c && c <= '9' || c == '-' || c == '.'
}

// hasXMLPrefix reports whether s starts with "xml" in any case, which XML reserves.
func hasXMLPrefix(s string) bool {
	return len(s) >= 3 && strings.EqualFold(s[:3], "xml")
}

// queryParams returns the GET parameters of e for FormatQuery, to be added to the
// subscription URL's own query:
//
//   - event_type: the event type, such as "order.created";
//   - event_id: the event ID, for deduplication;
//   - timestamp: when the event happened, in Unix seconds;
//   - <resource>_id: the data's top-level "id" member, where resource is the part of the
//     type before its first dot (order.created with data {"id":"12345"} gives
//     order_id=12345). A string id is sent as it is and a number id as written in the JSON;
//     the parameter is left out when the data is not an object, has no "id" member (the name
//     is matched exactly), or its id is empty, null, a boolean, an object or an array, and
//     when the name would be event_id.
//
// The rest of the data is not sent: a query string cannot carry nested data faithfully, so a
// receiver uses the IDs to fetch what it needs from the shop's API.
func queryParams(e envelope) url.Values {
	q := url.Values{
		"event_type": {e.Type},
		"event_id":   {e.ID},
		"timestamp":  {strconv.FormatInt(e.Timestamp.Unix(), 10)},
	}
	resource, _, _ := strings.Cut(e.Type, ".")
	if resource == "" || resource == "event" {
		return q
	}
	if id, ok := dataID(e.Data); ok {
		q.Set(resource+"_id", id)
	}
	return q
}

// dataID returns the top-level "id" member of the JSON object data as text, if it is a
// non-empty string or a number.
func dataID(data json.RawMessage) (string, bool) {
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil {
		return "", false
	}
	raw := bytes.TrimSpace(members["id"])
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" {
			return "", false
		}
		return s, true
	case c == '-' || '0' <= c && c <= '9':
		return string(raw), true
	}
	return "", false
}
