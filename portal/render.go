package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html static/*
var files embed.FS

// pageNames are the pages, one template file each, every one rendered inside layout.html.
var pageNames = []string{"dashboard", "form", "secret", "webhook", "delete", "events", "login", "message"}

// pages holds the parsed templates and the static files with their version.
type pages struct {
	tmpl    map[string]*template.Template
	static  map[string][]byte
	version string // of the static files, so that a new release is not served from cache
}

// mustParsePages parses the embedded templates. They are part of the binary and checked
// by the package's tests, so an error is a bug of the build.
func mustParsePages() pages {
	p, err := parsePages()
	if err != nil {
		panic("portal: " + err.Error())
	}
	return p
}

func parsePages() (pages, error) {
	p := pages{tmpl: make(map[string]*template.Template), static: make(map[string][]byte)}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return p, err
	}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(files, "templates/"+name+".html")
		if err != nil {
			return p, err
		}
		p.tmpl[name] = t
	}
	sum := sha256.New()
	entries, err := fs.ReadDir(files, "static")
	if err != nil {
		return p, err
	}
	for _, e := range entries {
		b, err := fs.ReadFile(files, "static/"+e.Name())
		if err != nil {
			return p, err
		}
		p.static[e.Name()] = b
		sum.Write(b)
	}
	p.version = hex.EncodeToString(sum.Sum(nil))[:12]
	return p, nil
}

// layout is what layout.html renders around every page.
type layout struct {
	Name      string // the page's template
	Title     string
	Root      string // the portal's root, relative to the page: "./", "../", "../../"
	Version   string
	Nav       string // the section the page belongs to: "webhooks" or "events"
	Workspace string
	SignedIn  bool
	SignOut   bool
	Notice    string
	Page      any
}

// render executes a page into a buffer first, so that a template error becomes a clean
// 500 instead of half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, s session, status int, name string, l layout) {
	l.Name = name
	l.Root = rootOf(r)
	l.Version = h.pages.version
	l.Workspace = s.Workspace
	l.SignedIn = s.SignedIn
	l.SignOut = s.Link
	var buf bytes.Buffer
	if err := h.pages.tmpl[name].ExecuteTemplate(&buf, "layout", l); err != nil {
		h.cfg.logger.Error("portal: rendering a page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store") // pages can hold a secret shown once
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// messageView is the page of an error or a short notice.
type messageView struct {
	Text string
	Back string // a link back, when there is somewhere to go back to
}

func (h *handler) message(w http.ResponseWriter, r *http.Request, s session, status int, title, text, back string) {
	h.render(w, r, s, status, "message", layout{Title: title, Page: messageView{Text: text, Back: back}})
}

// static serves the stylesheet and the script.
func (h *handler) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, ok := h.pages.static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(b)
}

// rootOf is the portal's root relative to the request's page, for links that work
// wherever the portal is mounted: "./" on "/" and "/events", "../" on "/webhooks/x".
func rootOf(r *http.Request) string {
	depth := strings.Count(r.URL.EscapedPath(), "/") - 1
	if depth <= 0 {
		return "./"
	}
	return strings.Repeat("../", depth)
}

// pathEscape escapes an ID as one path segment (IDs may hold any printable character).
func pathEscape(s string) string { return url.PathEscape(s) }

var funcs = template.FuncMap{
	"seg":      pathEscape,
	"when":     when,
	"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"dur":      formatDuration,
	"pct":      func(f float64) string { return formatPercent(f) },
	"num":      func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"add":      func(a, b float64) float64 { return a + b },
	"sub":      func(a, b float64) float64 { return a - b },
	"short":    func(t time.Time) string { return t.UTC().Format("Jan 2 15:04") },
}

// when formats a time for a page: UTC to the second, the zone named.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// formatDuration writes a response time as people read them: "0.4 ms", "87 ms", "1.2 s".
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0 ms"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

// formatPercent writes a rate of 0..1 as a percentage, never rounding a failure away:
// 0.9996 is "99.9%", not "100%".
func formatPercent(f float64) string {
	p := math.Floor(f*1000) / 10
	if p == math.Trunc(p) {
		return fmt.Sprintf("%.0f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}
