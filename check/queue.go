package check

// queue is the schedule: a binary min-heap of checkers by due time. The
// times sit in the heap's own array, so that sifting reads contiguous
// memory rather than 10,000 checkers. An entry whose checker was retired
// or planned again is dropped when it reaches the top.
type queue []entry

type entry struct {
	at int64 // due, Unix nanoseconds
	c  *checker
}

func (e entry) live() bool { return e.c.sched == queued && e.c.due.UnixNano() == e.at }

func (q *queue) push(c *checker) {
	*q = append(*q, entry{c.due.UnixNano(), c})
	h := *q
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (q *queue) pop() entry {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = entry{}
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].at < h[l].at {
			m = r
		}
		if h[i].at <= h[m].at {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

// first returns the checker due first, or nil.
func (q *queue) first() *checker {
	for len(*q) > 0 {
		if e := (*q)[0]; e.live() {
			return e.c
		}
		q.pop()
	}
	return nil
}

// next removes and returns the checker due first if it is due by the
// deadline (Unix nanoseconds), or returns nil.
func (q *queue) next(deadline int64) *checker {
	c := q.first()
	if c == nil || (*q)[0].at > deadline {
		return nil
	}
	q.pop()
	return c
}
