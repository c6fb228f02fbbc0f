package eventtypes

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors, for use with [errors.Is].
var (
	// ErrInvalidType is wrapped by the errors of [New] and [Catalog.Register]
	// for a type whose name, resource, action or sample is malformed.
	ErrInvalidType = errors.New("eventtypes: invalid event type")
	// ErrDuplicate is wrapped by the errors of [New] and [Catalog.Register]
	// for a name that is already in the catalog.
	ErrDuplicate = errors.New("eventtypes: duplicate event type")
	// ErrUnknownType matches every [*UnknownTypeError].
	ErrUnknownType = errors.New("eventtypes: unknown event type")
)

// UnknownTypeError is returned by [Catalog.Validate] and
// [Catalog.ValidatePattern] for a name or pattern the catalog does not know.
// errors.Is(err, ErrUnknownType) is true for it.
type UnknownTypeError struct {
	// Name is the name or pattern as the caller gave it.
	Name string
	// Suggestions are up to three registered names (or "resource.*"
	// patterns) closest to Name, closest first; empty when none is close.
	Suggestions []string
}

// Error returns a message such as
// `eventtypes: unknown event type "order.creatd" (did you mean "order.created"?)`.
func (e *UnknownTypeError) Error() string {
	var b strings.Builder
	b.WriteString("eventtypes: unknown event type ")
	b.WriteString(strconv.Quote(e.Name))
	if len(e.Suggestions) > 0 {
		b.WriteString(" (did you mean ")
		for i, s := range e.Suggestions {
			switch {
			case i == 0:
			case i == len(e.Suggestions)-1:
				b.WriteString(" or ")
			default:
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(s))
		}
		b.WriteString("?)")
	}
	return b.String()
}

// Is reports whether target is [ErrUnknownType].
func (e *UnknownTypeError) Is(target error) bool {
	return target == ErrUnknownType
}
