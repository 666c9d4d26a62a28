package ring

import "fmt"

// State describes the shared and private indices, for diagnostics.
func (p *Producer) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("producer tail=%d cachedHead=%d sharedHead=%d sharedTail=%d parked=%d waiting=%d",
		p.tail, p.cachedHead, p.s.head.Load(), p.s.tail.Load(), p.s.parked.Load(), p.s.waiting.Load())
}

// State describes the shared and private indices, for diagnostics.
func (c *Consumer) State() string {
	return fmt.Sprintf("consumer head=%d published=%t sharedHead=%d sharedTail=%d parked=%d waiting=%d",
		c.head, c.s.published(c.head), c.s.head.Load(), c.s.tail.Load(), c.s.parked.Load(), c.s.waiting.Load())
}
