package eventtypes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Type describes one event type. Its JSON names are snake_case, as everywhere
// in this module.
type Type struct {
	// Name is "resource.action", e.g. "order.created", or
	// "resource.action.vN" for a new version of a type whose payload changed,
	// e.g. "order.created.v2".
	Name string `json:"name"`
	// Resource is the part of Name before the first dot ("order").
	Resource string `json:"resource"`
	// Action is the part of Name after it ("created"), without the version.
	Action string `json:"action"`
	// Version is the version part of a versioned name ("v2"); empty otherwise.
	Version string `json:"version,omitempty"`
	// Description says in one sentence when the event is emitted.
	Description string `json:"description"`
	// Sample is an example payload: a JSON object whose top-level string
	// field "id" is the resource's ID. It is what a test delivery sends.
	Sample json.RawMessage `json:"sample"`
}

// Catalog is a set of event types, keyed by name. It is safe for concurrent
// use by multiple goroutines. The zero value is an empty catalog ready to use;
// a Catalog must not be copied after first use.
type Catalog struct {
	mu    sync.RWMutex
	types map[string]Type
	names []string // sorted, the keys of types
}

// New returns a catalog holding exactly the given types, each checked as by
// [Catalog.Register]. It returns an error wrapping [ErrInvalidType] or
// [ErrDuplicate] for the first type that cannot be registered.
func New(types ...Type) (*Catalog, error) {
	c := &Catalog{types: make(map[string]Type, len(types))}
	for _, t := range types {
		if err := c.Register(t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Default returns a new catalog holding every built-in event type (the
// constants of this package), each with a description and a sample payload.
// Every call returns a fresh catalog: registering types in one does not change
// another.
func Default() *Catalog {
	c, err := New(builtinTypes()...)
	if err != nil {
		panic("eventtypes: built-in catalog is invalid: " + err.Error())
	}
	return c
}

// Register adds t to the catalog.
//
// t.Name must be "resource.action", each part made of lowercase ASCII letters,
// digits and underscores, optionally followed by a version ".vN" (N a number
// without leading zeros: "order.created.v2"). t.Resource, t.Action and
// t.Version are derived from the name when empty and must agree with it when
// set. A versioned type is a type of its own: "order.created" and
// "order.created.v2" may both be registered, and a subscription to one does
// not receive the other (but "order.*" and "*.created" receive both). t.Sample,
// when set, must be a JSON object (it is stored compacted; a top-level string
// "id" is recommended, as the query payload format sends it as
// "<resource>_id"); when empty, the sample {"id":"<resource>_sample"} is
// stored. The catalog keeps its own copy of the sample.
//
// Register returns an error wrapping [ErrInvalidType] when t breaks these
// rules, and one wrapping [ErrDuplicate] when the name is already registered.
func (c *Catalog) Register(t Type) error {
	t, err := normalize(t)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.types[t.Name]; dup {
		return fmt.Errorf("%w %q", ErrDuplicate, t.Name)
	}
	if c.types == nil {
		c.types = make(map[string]Type)
	}
	c.types[t.Name] = t
	i, _ := slices.BinarySearch(c.names, t.Name)
	c.names = slices.Insert(c.names, i, t.Name)
	return nil
}

// Lookup returns the type registered under name, and whether there is one.
// The returned Type, sample included, is a copy the caller may modify.
func (c *Catalog) Lookup(name string) (Type, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.types[name]
	if !ok {
		return Type{}, false
	}
	return t.clone(), true
}

// All returns every registered type sorted by name. The slice and its types
// are copies the caller may modify.
func (c *Catalog) All() []Type {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Type, 0, len(c.names))
	for _, name := range c.names {
		out = append(out, c.types[name].clone())
	}
	return out
}

// Resources returns the distinct resources of the registered types ("customer",
// "order", ...), sorted.
func (c *Catalog) Resources() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for _, name := range c.names {
		res := c.types[name].Resource
		// names are sorted, and '.' sorts before every character a resource
		// may hold, so equal resources are adjacent.
		if len(out) == 0 || out[len(out)-1] != res {
			out = append(out, res)
		}
	}
	return out
}

// Validate returns nil when name is a registered type. Otherwise it returns an
// [*UnknownTypeError] (matching [ErrUnknownType]) whose Suggestions hold the
// registered names closest to name, for a message such as
// `eventtypes: unknown event type "order.creatd" (did you mean "order.created"?)`.
// Validate does not accept patterns; see [Catalog.ValidatePattern].
func (c *Catalog) Validate(name string) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, ok := c.types[name]; ok {
		return nil
	}
	return &UnknownTypeError{Name: name, Suggestions: suggest(name, c.names)}
}

// ValidatePattern returns nil when pattern is something a subscription may
// name (see [Match]): a registered type; "*"; "resource.*" for a resource that
// has a registered type; "*.action" for an action that a registered type has
// (at any version); "*.action.vN" for an action and version a registered type
// has. So a pattern is accepted exactly when it matches a registered type.
// Otherwise it returns an [*UnknownTypeError] (matching [ErrUnknownType]) with
// the closest registered names and patterns as suggestions.
func (c *Catalog) ValidatePattern(pattern string) error {
	if pattern == wildcard {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if strings.IndexByte(pattern, '*') < 0 {
		if _, ok := c.types[pattern]; ok {
			return nil
		}
	} else if c.matchesAny(pattern) {
		return nil
	}
	candidates := slices.Clone(c.names)
	seen := make(map[string]bool)
	for _, name := range c.names {
		t := c.types[name]
		for _, p := range []string{t.Resource + ".*", "*." + t.Action} {
			if !seen[p] {
				seen[p] = true
				candidates = append(candidates, p)
			}
		}
	}
	return &UnknownTypeError{Name: pattern, Suggestions: suggest(pattern, candidates)}
}

// matchesAny reports whether a wildcard pattern matches a registered type. The
// caller holds c.mu.
func (c *Catalog) matchesAny(pattern string) bool {
	if res, ok := strings.CutSuffix(pattern, ".*"); ok && res != wildcard && strings.IndexByte(res, '.') < 0 {
		return c.hasResource(res) // resource.*: a binary search
	}
	for _, name := range c.names {
		if Match(pattern, name) {
			return true
		}
	}
	return false
}

// Expand returns the registered names that at least one of patterns matches
// (see [Match]), sorted and without duplicates. Patterns that match nothing
// are ignored; the result is empty when nothing matches.
func (c *Catalog) Expand(patterns ...string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for _, name := range c.names {
		for _, p := range patterns {
			if Match(p, name) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// hasResource reports whether a registered name starts with res + ".".
// The caller holds c.mu.
func (c *Catalog) hasResource(res string) bool {
	if res == "" {
		return false
	}
	prefix := res + "."
	i, _ := slices.BinarySearch(c.names, prefix)
	return i < len(c.names) && strings.HasPrefix(c.names[i], prefix)
}

func (t Type) clone() Type {
	t.Sample = bytes.Clone(t.Sample)
	return t
}

// normalize checks t as Register documents and returns it with Resource,
// Action and Sample filled in; the returned sample shares no memory with t's.
func normalize(t Type) (Type, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidType, t.Name, fmt.Sprintf(format, args...))
	}
	res, act, ver, ok := ParseName(t.Name)
	if !ok {
		return Type{}, invalid("name must be resource.action, or resource.action.vN for a version (v1, v2, ...), with no part empty")
	}
	if !validPart(res) || !validPart(act) {
		return Type{}, invalid("resource and action may hold only lowercase letters, digits and underscores")
	}
	if t.Resource != "" && t.Resource != res {
		return Type{}, invalid("resource %q does not match the name", t.Resource)
	}
	if t.Action != "" && t.Action != act {
		return Type{}, invalid("action %q does not match the name", t.Action)
	}
	if t.Version != "" && t.Version != ver {
		return Type{}, invalid("version %q does not match the name", t.Version)
	}
	t.Resource, t.Action, t.Version = res, act, ver

	sample := bytes.TrimSpace(t.Sample)
	if len(sample) == 0 {
		// res holds only [a-z0-9_], so it needs no escaping.
		t.Sample = json.RawMessage(`{"id":"` + res + `_sample"}`)
		return t, nil
	}
	if sample[0] != '{' || !json.Valid(sample) {
		return Type{}, invalid("sample must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, sample); err != nil {
		return Type{}, invalid("sample must be a JSON object")
	}
	t.Sample = buf.Bytes()
	return t, nil
}
