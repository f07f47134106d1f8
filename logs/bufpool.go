package logs

import (
	"sync"
	"sync/atomic"
)

// bufPool lends buffers of one size and counts those lent and not given back.
type bufPool struct {
	size int
	pool sync.Pool
	out  atomic.Int64
}

func newBufPool(size int) *bufPool {
	p := &bufPool{size: size}
	p.pool.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return p
}

func (p *bufPool) get() *[]byte {
	p.out.Add(1)
	return p.pool.Get().(*[]byte)
}

func (p *bufPool) put(b *[]byte) {
	p.out.Add(-1)
	p.pool.Put(b)
}
