package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/internal/location"
)

// GroupOps are what a group location (group_location) allows: reading a
// group's counts and limits (GET), setting its limits (POST), deleting its
// channels (DELETE). Zero: the location is no group location.
type GroupOps uint8

// The group location's operations.
const (
	GroupGet GroupOps = 1 << iota
	GroupSet
	GroupDelete

	// AllGroupOps is Nchan's nchan_group_location without arguments.
	AllGroupOps = GroupGet | GroupSet | GroupDelete
)

func (o GroupOps) String() string {
	var s []string
	for _, n := range []struct {
		op   GroupOps
		name string
	}{{GroupGet, "get"}, {GroupSet, "set"}, {GroupDelete, "delete"}} {
		if o&n.op != 0 {
			s = append(s, n.name)
		}
	}
	if len(s) == 0 {
		return "off"
	}
	return strings.Join(s, " ")
}

// setGroupLocation reads group_location: on/off, or up to three of get,
// set and delete (off alone turns it off), as nchan_group_location.
func setGroupLocation(l *Location, n *yaml.Node) error {
	vals, err := scalars(n, true)
	if err != nil {
		return err
	}
	if len(vals) == 1 {
		if b, err := ParseBool(vals[0]); err == nil {
			l.GroupLocation = 0
			if b {
				l.GroupLocation = AllGroupOps
			}
			return nil
		}
	}
	var ops GroupOps
	for _, v := range vals {
		switch strings.ToLower(v) {
		case "get":
			ops |= GroupGet
		case "set":
			ops |= GroupSet
		case "delete":
			ops |= GroupDelete
		case "off":
			if len(vals) > 1 {
				return nodeErr(n, "group_location: off goes alone")
			}
		default:
			return nodeErr(n, "group_location: unknown operation %q (want get, set, delete, on or off)", v)
		}
	}
	l.GroupLocation = ops
	return nil
}

// GroupLimit names one group limit key (group_max_*).
type GroupLimit uint8

// The group limits, in the order Nchan shows them.
const (
	GroupMaxChannels GroupLimit = iota
	GroupMaxSubscribers
	GroupMaxMessages
	GroupMaxMessagesMemory
	GroupMaxMessagesDisk

	// NumGroupLimits is the number of group limits.
	NumGroupLimits
)

// Key returns the limit's configuration key.
func (g GroupLimit) Key() string {
	return [...]string{"group_max_channels", "group_max_subscribers", "group_max_messages",
		"group_max_messages_memory", "group_max_messages_disk"}[g]
}

// Size reports whether the limit is a size (with k, M or G) rather than a
// count.
func (g GroupLimit) Size() bool { return g == GroupMaxMessagesMemory || g == GroupMaxMessagesDisk }

// ParseGroupLimit reads a value of limit g: a count is digits only, as
// Nchan reads it; a size is bytes or a number with k, M or G.
func ParseGroupLimit(g GroupLimit, s string) (int64, error) {
	if g.Size() {
		return ParseSize(s)
	}
	if s == "" || len(s) > 18 {
		return 0, fmt.Errorf("bad %s value %q", g.Key(), s)
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad %s value %q (want a whole number)", g.Key(), s)
		}
		v = v*10 + int64(c-'0')
	}
	return v, nil
}

// groupLimitKey reads a group_max_* value: an expression, checked at once
// when it has no variable.
func groupLimitKey(g GroupLimit) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		e, err := location.Compile(s)
		if err != nil {
			return nodeErr(n, "%v", err)
		}
		if e.IsLiteral() && s != "" {
			if _, err := ParseGroupLimit(g, s); err != nil {
				return nodeErr(n, "%v", err)
			}
		}
		l.GroupMax[g] = e
		return nil
	}
}

// groupMaxDirective is the directive of group limit g.
func groupMaxDirective(g GroupLimit) Directive {
	doc := [NumGroupLimits]string{
		"Most channels the group may have; a publish or subscribe that would make one more gets 403.",
		"Most subscribers the group's channels may have at once; one more gets 403 (empty body, as Nchan).",
		"Most messages the group's channels may buffer; a publish past it gets 403.",
		"Most memory (bytes, or with k, M, G) the group's buffered messages may use (each counts its body, content type, event name and 96 bytes); a publish past it gets 403.",
		"Accepted, kept and shown for Nchan configurations (`nchan_group_max_messages_disk`); Herald keeps no messages on disk, so it is never reached.",
	}[g]
	return Directive{
		Name: g.Key(), Default: "",
		Doc: doc + " Variables allowed (`$arg_max`); empty leaves the group's limit as it is; 0: no limit. Set on the group by every request to a location " +
			"with `channel_group_accounting` on (a publisher or subscriber before its check, a group location's POST), as Nchan sets it. " +
			"A value that is not a number answers 403 `invalid nchan_" + g.Key() + " value`.",
		setLoc: groupLimitKey(g),
	}
}
