package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressPrinter shows a long command's progress on stderr. On a
// terminal it keeps one status line rewritten in place (at most once a
// second); elsewhere (CI logs) it prints the status as a plain line every
// plainEvery, so logs stay short. Permanent lines go through Println so
// they never land in the middle of the status line. Safe for concurrent use.
type progressPrinter struct {
	w          io.Writer
	tty        bool
	plainEvery time.Duration
	now        func() time.Time

	mu      sync.Mutex
	last    time.Time // when the status was last printed
	showing bool      // a status line is on the terminal, without a newline
}

// newProgressPrinter prints to w, detecting a terminal.
func newProgressPrinter(w io.Writer, plainEvery time.Duration) *progressPrinter {
	return &progressPrinter{w: w, tty: isTerminal(w), plainEvery: plainEvery, now: time.Now}
}

// Status shows the current state; calls between prints are dropped.
func (p *progressPrinter) Status(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	every := p.plainEvery
	if p.tty {
		every = time.Second
	}
	if !p.last.IsZero() && now.Sub(p.last) < every {
		return
	}
	if p.last.IsZero() && !p.tty {
		// A plain log gets its first line after one interval, not at once.
		p.last = now
		return
	}
	p.last = now
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.showing = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// Println prints a line that stays, clearing the status line first.
func (p *progressPrinter) Println(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintln(p.w, line)
}

// End clears the status line, so what follows starts on a clean line.
func (p *progressPrinter) End() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *progressPrinter) clear() {
	if p.showing {
		fmt.Fprint(p.w, "\r\033[K")
		p.showing = false
	}
}
