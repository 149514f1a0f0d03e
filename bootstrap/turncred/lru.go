package turncred

import "container/list"

// lru is a map that forgets its least recently used entry when it is full.
// The zero value is empty and ready to use; it is not safe for concurrent
// use.
type lru[K comparable, V any] struct {
	m     map[K]*list.Element
	order list.List // of *lruEntry[K, V], most recently used first
}

type lruEntry[K comparable, V any] struct {
	k K
	v V
}

// get returns the value of k and marks it used.
func (c *lru[K, V]) get(k K) (V, bool) {
	el := c.m[k]
	if el == nil {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry[K, V]).v, true
}

// put sets k to v, forgetting the least recently used entries beyond max.
func (c *lru[K, V]) put(k K, v V, max int) {
	if c.m == nil {
		c.m = make(map[K]*list.Element)
	}
	if el := c.m[k]; el != nil {
		el.Value.(*lruEntry[K, V]).v = v
		c.order.MoveToFront(el)
		return
	}
	c.m[k] = c.order.PushFront(&lruEntry[K, V]{k, v})
	for c.order.Len() > max {
		old := c.order.Remove(c.order.Back()).(*lruEntry[K, V])
		delete(c.m, old.k)
	}
}

// len returns the number of entries.
func (c *lru[K, V]) len() int { return c.order.Len() }

// deleteFunc forgets every entry for which del returns true.
func (c *lru[K, V]) deleteFunc(del func(K, V) bool) {
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*lruEntry[K, V]); del(e.k, e.v) {
			c.order.Remove(el)
			delete(c.m, e.k)
		}
		el = next
	}
}
