package results

import (
	"strings"
	"sync"
)

// groupSep joins group names into a k6 group path.
const groupSep = "::"

// Checks records check outcomes per group, as k6's root_group reports
// them. It is safe for concurrent use.
type Checks struct {
	mu     sync.Mutex
	root   *Group
	groups map[string]*Group // by path
	checks map[string]*Check // by group path + "\x00" + name
}

// NewChecks returns an empty recorder with the root group.
func NewChecks() *Checks {
	root := &Group{}
	return &Checks{root: root, groups: map[string]*Group{"": root}, checks: map[string]*Check{}}
}

// Record counts one outcome of the check called name in the group at
// groupPath: "" for the root, "::outer::inner" for nested groups. Groups
// and checks appear in the order first seen.
func (c *Checks) Record(groupPath, name string, pass bool) {
	var p, f int64
	if pass {
		p = 1
	} else {
		f = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(groupPath, name, p, f)
}

func (c *Checks) addLocked(groupPath, name string, passes, fails int64) {
	g := c.groupLocked(groupPath)
	key := g.Path + "\x00" + name
	ch := c.checks[key]
	if ch == nil {
		ch = &Check{Name: name, Path: g.Path + groupSep + name}
		c.checks[key] = ch
		g.Checks = append(g.Checks, ch)
	}
	ch.Passes += passes
	ch.Fails += fails
}

// groupLocked returns the group at path, creating it and its parents.
func (c *Checks) groupLocked(path string) *Group {
	if g := c.groups[path]; g != nil {
		return g
	}
	parent := c.root
	names := strings.Split(strings.TrimPrefix(path, groupSep), groupSep)
	cur := ""
	for _, name := range names {
		cur += groupSep + name
		g := c.groups[cur]
		if g == nil {
			g = &Group{Name: name, Path: cur}
			c.groups[cur] = g
			parent.Groups = append(parent.Groups, g)
		}
		parent = g
	}
	c.groups[path] = parent
	return parent
}

// Root returns a deep copy of the group tree.
func (c *Checks) Root() *Group {
	c.mu.Lock()
	defer c.mu.Unlock()
	return copyGroup(c.root)
}

func copyGroup(g *Group) *Group {
	out := &Group{Name: g.Name, Path: g.Path}
	for _, sub := range g.Groups {
		out.Groups = append(out.Groups, copyGroup(sub))
	}
	for _, ch := range g.Checks {
		cp := *ch
		out.Checks = append(out.Checks, &cp)
	}
	return out
}

// MergeGroup adds another tree's counts (another shard's), keyed by group
// names from the root down; the paths stored in g are not trusted.
func (c *Checks) MergeGroup(g *Group) {
	if g == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mergeLocked(g, "")
}

func (c *Checks) mergeLocked(g *Group, path string) {
	c.groupLocked(path)
	for _, ch := range g.Checks {
		if ch != nil {
			c.addLocked(path, ch.Name, ch.Passes, ch.Fails)
		}
	}
	for _, sub := range g.Groups {
		if sub != nil {
			c.mergeLocked(sub, path+groupSep+sub.Name)
		}
	}
}
