package pushstream

// Padder writes the padding of push_stream_padding_by_user_agent: a
// header or message shorter than its minimum is followed by filler, in
// steps of 100 bytes, up to the largest minimum configured. The filler is
// line ends for streams and a comment for EventSource.
type Padder struct {
	max    int
	stream string
	es     string
}

// NewPadder returns the padder for minimums of at most max bytes.
func NewPadder(max int) *Padder {
	if max <= 0 {
		return &Padder{}
	}
	n := max + max%2
	s := make([]byte, n)
	for i := 0; i < n; i += 2 {
		s[i], s[i+1] = '\r', '\n'
	}
	e := make([]byte, n)
	for i := range e {
		e[i] = ':'
	}
	e[n-1] = '\n'
	return &Padder{max: max, stream: string(s), es: string(e)}
}

// Pad returns the filler after n bytes whose minimum is minLen; "" when
// none is due.
func (p *Padder) Pad(minLen, n int, eventsource bool) string {
	diff := minLen - n
	if p.max == 0 || diff <= 0 {
		return ""
	}
	size := (diff/100 + 1) * 100
	if diff/100 >= p.max/100 {
		size = p.max
	}
	src := p.stream
	if eventsource {
		src = p.es
	}
	return src[len(src)-size:]
}
