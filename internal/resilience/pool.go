package resilience

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// Member is one service of a backend pool (pool.services[] in gateway.yaml).
type Member struct {
	// ID is the backend entity id.
	ID string
	// Priority orders the members: lower first. Members of a higher
	// priority value are used only when every member with a lower one is
	// unavailable.
	Priority int
	// Weight is the member's share of traffic within its priority; 0 means 1.
	Weight int
}

// PoolUnavailableError is returned by Pool.Pick when no member of any
// priority is available (every breaker open or every probe failing).
type PoolUnavailableError struct {
	PoolID string
}

// Error names the pool.
func (e *PoolUnavailableError) Error() string {
	return "backend pool " + e.PoolID + " is temporarily unavailable: every member is tripped or unhealthy"
}

// StatusCode is the status the gateway answers: 503.
func (e *PoolUnavailableError) StatusCode() int { return http.StatusServiceUnavailable }

// StatusReason is APIM's reason phrase for this answer, which real policies
// match with context.Response.StatusReason.Contains("Backend pool").
func (e *PoolUnavailableError) StatusReason() string {
	return "Backend pool " + e.PoolID + " is temporarily unavailable"
}

// Pool chooses a member backend for each request: the lowest priority that
// has an available member, then smooth weighted round-robin (the nginx
// algorithm: an even interleaving, exact proportions over each cycle) among
// that priority's available members. It is safe for concurrent use.
type Pool struct {
	id      string
	members []Member
	avail   func(id string) bool
	tokens  map[string]int // affinity token -> member index
	groups  []group        // by ascending priority

	mu sync.Mutex
}

type group struct {
	idx     []int // member indexes
	current []int // smooth WRR current weights, parallel to idx
}

// NewPool builds pool id. avail reports whether a member may take traffic
// now; the gateway passes a function that checks the member's Breaker
// (Available) and HealthChecker (Healthy). A nil avail treats every member
// as available.
func NewPool(id string, members []Member, avail func(id string) bool) (*Pool, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("backend pool %s: pool.services: at least one service is required", id)
	}
	if avail == nil {
		avail = func(string) bool { return true }
	}
	p := &Pool{id: id, avail: avail, tokens: make(map[string]int, len(members))}
	seen := map[string]bool{}
	for i, m := range members {
		switch {
		case m.ID == "":
			return nil, fmt.Errorf("backend pool %s: pool.services[%d]: id is required", id, i)
		case seen[m.ID]:
			return nil, fmt.Errorf("backend pool %s: pool.services[%d]: duplicate id %q", id, i, m.ID)
		case m.Weight < 0:
			return nil, fmt.Errorf("backend pool %s: pool.services[%d]: weight %d must not be negative", id, i, m.Weight)
		case m.Priority < 0:
			return nil, fmt.Errorf("backend pool %s: pool.services[%d]: priority %d must not be negative", id, i, m.Priority)
		}
		seen[m.ID] = true
		if m.Weight == 0 {
			m.Weight = 1
		}
		p.members = append(p.members, m)
		p.tokens[affinityToken(id, m.ID)] = i
	}
	order := make([]int, len(p.members))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return p.members[a].Priority - p.members[b].Priority })
	for _, i := range order {
		n := len(p.groups)
		if n == 0 || p.members[p.groups[n-1].idx[0]].Priority != p.members[i].Priority {
			p.groups = append(p.groups, group{})
			n++
		}
		g := &p.groups[n-1]
		g.idx = append(g.idx, i)
		g.current = append(g.current, 0)
	}
	return p, nil
}

// ID returns the pool's backend id.
func (p *Pool) ID() string { return p.id }

// Members returns a copy of the members (weights defaulted).
func (p *Pool) Members() []Member { return slices.Clone(p.members) }

// Pick chooses the member for one request. affinity is the session cookie
// value a client sent back (empty when none): when it names a member that is
// still available, that member is chosen regardless of priority and weight,
// as APIM's session-aware pools do. Otherwise Pick balances. It returns a
// *PoolUnavailableError when no member is available.
func (p *Pool) Pick(affinity string) (string, error) {
	return p.pick(affinity, nil)
}

// pick is Pick that also leaves out the members skip reports.
func (p *Pool) pick(affinity string, skip func(id string) bool) (string, error) {
	usableID := func(id string) bool { return (skip == nil || !skip(id)) && p.avail(id) }
	if affinity != "" {
		if i, ok := p.tokens[affinity]; ok && usableID(p.members[i].ID) {
			return p.members[i].ID, nil
		}
	}
	var buf [16]bool
	usable := buf[:0]
	if len(p.members) > len(buf) {
		usable = make([]bool, 0, len(p.members))
	}
	for _, m := range p.members {
		usable = append(usable, usableID(m.ID))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for gi := range p.groups {
		g := &p.groups[gi]
		best, total := -1, 0
		for k, i := range g.idx {
			if !usable[i] {
				continue
			}
			w := p.members[i].Weight
			g.current[k] += w
			total += w
			if best < 0 || g.current[k] > g.current[best] {
				best = k
			}
		}
		if best < 0 {
			continue
		}
		g.current[best] -= total
		return p.members[g.idx[best]].ID, nil
	}
	return "", &PoolUnavailableError{PoolID: p.id}
}

// AffinityToken returns the session cookie value that pins a client to
// member id of this pool. It is an opaque digest of the pool and member ids,
// so it reveals no backend names and works on every gateway replica without
// shared state.
func (p *Pool) AffinityToken(id string) string { return affinityToken(p.id, id) }

func affinityToken(pool, member string) string {
	sum := sha256.Sum256([]byte(pool + "\x00" + member))
	return hex.EncodeToString(sum[:12])
}
