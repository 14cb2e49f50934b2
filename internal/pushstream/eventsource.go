package pushstream

import "strings"

// The EventSource shapes of the module.
const (
	// EventSourceContentType is an EventSource subscriber's Content-Type.
	EventSourceContentType = "text/event-stream; charset=utf-8"
	// EventSourcePing is an EventSource subscriber's ping: a comment.
	EventSourcePing = ": -1\n"
	// eventSourceHeader is the header of an EventSource stream whose
	// location has no header template.
	eventSourceHeader = ": \n"
	esDataPrefix      = "data: "
	esCommentPrefix   = ": "
)

// EventSourceTemplate is the message template an EventSource location
// renders each line of a message with: "data: " and the location's
// template (default ~text~) and a line end, unless the template already
// starts with "data: ".
func EventSourceTemplate(tpl string) string {
	if strings.HasPrefix(tpl, esDataPrefix) {
		return tpl
	}
	if tpl == "" {
		tpl = "~text~"
	}
	return esDataPrefix + tpl + "\n"
}

// EventSourceHeader is what an EventSource location sends first: its
// header template as comment lines (": " before each non-empty line)
// unless it already starts with ": ", or ": \n" when it has none.
func EventSourceHeader(tpl string) string {
	if tpl == "" {
		return eventSourceHeader
	}
	return comments(tpl)
}

// EventSourceFooter is what an EventSource location sends last: its footer
// template as comment lines, or nothing.
func EventSourceFooter(tpl string) string {
	if tpl == "" {
		return ""
	}
	return comments(tpl)
}

// comments writes each non-empty line of s as a comment, unless s already
// starts with one.
func comments(s string) string {
	if strings.HasPrefix(s, esCommentPrefix) {
		return s
	}
	var b strings.Builder
	for line := range Lines([]byte(s)) {
		b.WriteString(esCommentPrefix)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// Lines yields the non-empty lines of text, split at CRLF, CR and LF, as
// the module splits a message for EventSource.
func Lines(text []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		start := 0
		for i := 0; i < len(text); i++ {
			c := text[i]
			if c != '\r' && c != '\n' {
				continue
			}
			if i > start && !yield(text[start:i]) {
				return
			}
			if c == '\r' && i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
		if start < len(text) {
			yield(text[start:])
		}
	}
}

// EventLen is an upper bound of the length of AppendEvent's output.
func EventLen(t *Template, f *Fields) int {
	n := len("id: \nevent: \n\n") + len(f.EventID) + len(f.EventType)
	g := *f
	for line := range Lines(f.Text) {
		g.Text = line
		n += t.Len(&g)
	}
	return n
}

// AppendEvent appends one EventSource event: "id:" and "event:" lines
// when the message has an event id and type, then each non-empty line of
// its text rendered with t (an EventSourceTemplate; ~text~ and ~size~ are
// the line's), then the blank line that ends the event.
func AppendEvent(dst []byte, t *Template, f *Fields) []byte {
	if f.EventID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, f.EventID...)
		dst = append(dst, '\n')
	}
	if f.EventType != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, f.EventType...)
		dst = append(dst, '\n')
	}
	g := *f
	for line := range Lines(f.Text) {
		g.Text = line
		dst = t.Append(dst, &g)
	}
	return append(dst, '\n')
}
