package portal

import (
	"fmt"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// checkAccessible runs a basic accessibility check over a page and returns what it
// found wrong: every form control has a label, every image a text alternative, every
// button and link a name, references point at existing IDs, IDs are unique, the page has
// a language, a title and one h1, and headings do not skip a level.
func checkAccessible(page string) []string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return []string{"does not parse: " + err.Error()}
	}
	var (
		problems []string
		ids      = map[string]int{}
		labelFor = map[string]bool{}
		refs     []string // aria-labelledby and aria-describedby targets
		h1s      int
		lastH    int
		titles   int
	)
	bad := func(n *html.Node, format string, args ...any) {
		problems = append(problems, describe(n)+": "+fmt.Sprintf(format, args...))
	}
	var walk func(n *html.Node, inLabel bool)
	walk = func(n *html.Node, inLabel bool) {
		if n.Type == html.ElementNode {
			if id := attr(n, "id"); id != "" {
				ids[id]++
			}
			if n.DataAtom == atom.Label {
				if f := attr(n, "for"); f != "" {
					labelFor[f] = true
				}
				inLabel = true
			}
			for _, a := range []string{"aria-labelledby", "aria-describedby"} {
				refs = append(refs, strings.Fields(attr(n, a))...)
			}
		}
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Html:
				if attr(n, "lang") == "" {
					bad(n, "no lang attribute")
				}
			case atom.Title:
				if n.Parent != nil && n.Parent.DataAtom == atom.Head {
					titles++
					if strings.TrimSpace(text(n)) == "" {
						bad(n, "empty page title")
					}
				}
			case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
				level := int(n.Data[1] - '0')
				if level == 1 {
					h1s++
				}
				if lastH > 0 && level > lastH+1 {
					bad(n, "heading h%d follows h%d: a level is skipped", level, lastH)
				}
				lastH = level
				if strings.TrimSpace(text(n)) == "" {
					bad(n, "empty heading")
				}
			case atom.Img:
				if _, ok := attrOK(n, "alt"); !ok {
					bad(n, "img without alt")
				}
			case atom.Svg:
				if attr(n, "aria-hidden") != "true" {
					if attr(n, "role") != "img" || (attr(n, "aria-label") == "" && attr(n, "aria-labelledby") == "") {
						bad(n, `svg is neither aria-hidden nor role="img" with a label`)
					}
				}
			case atom.Input, atom.Select, atom.Textarea:
				typ := attr(n, "type")
				if n.DataAtom == atom.Input && (typ == "hidden" || typ == "submit" || typ == "button" || typ == "reset") {
					break
				}
				if !inLabel && !labelFor[attr(n, "id")] && attr(n, "aria-label") == "" && attr(n, "aria-labelledby") == "" {
					// A label may come after its control (checkboxes): checked below.
					n.Attr = append(n.Attr, html.Attribute{Key: "data-a11y-needs-label", Val: "1"})
				}
			case atom.Button:
				if strings.TrimSpace(text(n)) == "" && attr(n, "aria-label") == "" {
					bad(n, "button without a name")
				}
			case atom.A:
				if _, ok := attrOK(n, "href"); !ok {
					bad(n, "link without href")
				}
				if strings.TrimSpace(text(n)) == "" && attr(n, "aria-label") == "" {
					bad(n, "link without a name")
				}
			case atom.Summary:
				if strings.TrimSpace(text(n)) == "" && attr(n, "aria-label") == "" {
					bad(n, "summary without a name")
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inLabel)
		}
	}
	walk(doc, false)
	// Controls whose label comes later in the document.
	var late func(n *html.Node)
	late = func(n *html.Node) {
		if n.Type == html.ElementNode && attr(n, "data-a11y-needs-label") != "" && !labelFor[attr(n, "id")] {
			bad(n, "form control without a label")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			late(c)
		}
	}
	late(doc)
	for id, n := range ids {
		if n > 1 {
			problems = append(problems, fmt.Sprintf("id %q is used %d times", id, n))
		}
	}
	for _, r := range refs {
		if ids[r] == 0 {
			problems = append(problems, fmt.Sprintf("aria reference to missing id %q", r))
		}
	}
	for f := range labelFor {
		if ids[f] == 0 {
			problems = append(problems, fmt.Sprintf("label for missing id %q", f))
		}
	}
	if h1s != 1 {
		problems = append(problems, fmt.Sprintf("%d h1 headings, want 1", h1s))
	}
	if titles != 1 {
		problems = append(problems, fmt.Sprintf("%d titles, want 1", titles))
	}
	return problems
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// text is the text content of a node, with the alt text of images.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && n.DataAtom == atom.Img:
			b.WriteString(attr(n, "alt"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func describe(n *html.Node) string {
	s := "<" + n.Data
	for _, k := range []string{"id", "name", "type", "class"} {
		if v := attr(n, k); v != "" {
			s += fmt.Sprintf(" %s=%q", k, v)
		}
	}
	return s + ">"
}

// decoded is a page's text and attribute values with HTML escapes undone, one per line:
// what to search for a value that must not be on a page (html/template escapes "+" in a
// secret as "&#43;", so the raw page would hide it from a plain search).
func decoded(page string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return page
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data + "\n")
		}
		for _, a := range n.Attr {
			b.WriteString(a.Val + "\n")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return b.String()
}
