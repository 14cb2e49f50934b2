package accesslog

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// DefaultQueue is how many lines wait for the writer before new ones are
// dropped.
const DefaultQueue = 4096

// Options configure a Logger.
type Options struct {
	// Path is a file to append to, or "stderr" for Stderr.
	Path string
	// Stderr is where "stderr" writes; nil is os.Stderr.
	Stderr io.Writer
	// Format is the format of every request's line; StreamFormat that of
	// the line written when a stream ends. nil: Combined and
	// CombinedStream.
	Format, StreamFormat *Format
	// Queue is how many lines may wait for the writer (DefaultQueue when
	// 0).
	Queue int
	// Logger reports write and reopen errors.
	Logger *slog.Logger
}

// Logger is an open access log and its writer goroutine.
type Logger struct {
	o       Options
	lines   chan []byte
	reopen  chan chan error
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	dropped atomic.Uint64
	written atomic.Uint64
	pool    sync.Pool // *[]byte line buffers

	// Owned by the writer goroutine.
	file *os.File // nil when writing to Stderr
	w    *bufio.Writer
}

// Open opens the log's file (or standard error) and starts its writer.
func Open(o Options) (*Logger, error) {
	if o.Format == nil {
		o.Format, _ = Compile(Combined)
	}
	if o.StreamFormat == nil {
		o.StreamFormat, _ = Compile(CombinedStream)
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Logger{o: o, lines: make(chan []byte, o.Queue), reopen: make(chan chan error),
		quit: make(chan struct{}), done: make(chan struct{})}
	if err := l.open(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// open opens the destination; on the writer goroutine (or before it runs).
func (l *Logger) open() error {
	if l.o.Path == "stderr" {
		l.file = nil
		l.w = bufio.NewWriterSize(l.o.Stderr, 64<<10)
		return nil
	}
	f, err := os.OpenFile(l.o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	l.file = f
	l.w = bufio.NewWriterSize(f, 64<<10)
	return nil
}

// Log writes the line of a request that was answered.
func (l *Logger) Log(e *Entry) { l.put(l.o.Format, e) }

// LogStreamEnd writes the line of a stream that ended.
func (l *Logger) LogStreamEnd(e *Entry) { l.put(l.o.StreamFormat, e) }

func (l *Logger) put(f *Format, e *Entry) {
	bp, _ := l.pool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := f.Append((*bp)[:0], e)
	b = append(b, '\n')
	select {
	case l.lines <- b:
	default:
		l.dropped.Add(1)
		*bp = b
		l.pool.Put(bp)
	}
}

// Dropped returns how many lines were dropped because the writer had
// fallen behind.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// Written returns how many lines were written.
func (l *Logger) Written() uint64 { return l.written.Load() }

// Reopen closes the log's file and opens it again by its name (after it
// was moved away by log rotation), once the lines queued before it are
// written. Standard error is only flushed.
func (l *Logger) Reopen() error {
	errc := make(chan error, 1)
	select {
	case l.reopen <- errc:
		return <-errc
	case <-l.done:
		return fmt.Errorf("access log: closed")
	}
}

// Close writes what is queued, closes the file and stops the writer.
func (l *Logger) Close() error {
	l.once.Do(func() { close(l.quit) })
	<-l.done
	return nil
}

// run is the writer goroutine.
func (l *Logger) run() {
	defer close(l.done)
	for {
		select {
		case b := <-l.lines:
			l.write(b)
			if len(l.lines) == 0 {
				l.flush()
			}
		case errc := <-l.reopen:
			l.drain()
			l.flush()
			errc <- l.reopenFile()
		case <-l.quit:
			l.drain()
			l.flush()
			if l.file != nil {
				l.file.Close()
			}
			return
		}
	}
}

// drain writes every queued line.
func (l *Logger) drain() {
	for {
		select {
		case b := <-l.lines:
			l.write(b)
		default:
			return
		}
	}
}

func (l *Logger) write(b []byte) {
	if _, err := l.w.Write(b); err != nil {
		l.o.Logger.Warn("access log: write failed", "err", err)
	} else {
		l.written.Add(1)
	}
	b = b[:0]
	l.pool.Put(&b)
}

func (l *Logger) flush() {
	if err := l.w.Flush(); err != nil {
		l.o.Logger.Warn("access log: write failed", "err", err)
		l.w.Reset(l.writer())
	}
}

func (l *Logger) writer() io.Writer {
	if l.file != nil {
		return l.file
	}
	return l.o.Stderr
}

// reopenFile reopens the file; on failure the old one stays in use.
func (l *Logger) reopenFile() error {
	if l.file == nil {
		return nil
	}
	old := l.file
	if err := l.open(); err != nil {
		l.file = old
		l.w = bufio.NewWriterSize(old, 64<<10)
		return err
	}
	old.Close()
	return nil
}
