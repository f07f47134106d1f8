package watch

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// pattern is one compiled ignore glob, split on "/".
type pattern struct {
	text string
	segs []string
	abs  bool // matched against the absolute path instead of the relative one
}

// compile checks a glob and splits it into segments. "./" in front and "/" behind are
// dropped; a pattern that starts with "/" is matched against absolute paths.
func compile(glob string) (pattern, error) {
	p := pattern{text: glob}
	s := filepath.ToSlash(glob)
	if strings.HasPrefix(s, "/") {
		p.abs = true
	}
	s = strings.TrimPrefix(path.Clean("/"+s), "/")
	if s == "" {
		return p, fmt.Errorf("watch: ignore pattern %q matches nothing", glob)
	}
	p.segs = strings.Split(s, "/")
	for _, seg := range p.segs {
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return p, fmt.Errorf("watch: ignore pattern %q: %w", glob, err)
		}
	}
	return p, nil
}

// matchSegs reports whether the pattern segments match the name segments in full, "**"
// matching zero or more of them.
func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 0 {
				return true
			}
			for i := range len(name) + 1 {
				if matchSegs(pat, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// ignored reports whether p, below the watched folder root, matches a pattern: p itself or
// one of its folders up to root. A pattern with a "/" is matched against the path relative
// to root (or the absolute path, when it starts with "/"); one without, against base names.
func ignored(pats []pattern, root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == "." {
		return false
	}
	relSegs := strings.Split(filepath.ToSlash(rel), "/")
	absSegs := strings.Split(strings.TrimPrefix(filepath.ToSlash(p), "/"), "/")
	skip := len(absSegs) - len(relSegs) // the segments of root inside absSegs
	for i := range relSegs {
		for _, pt := range pats {
			if pt.abs {
				if matchSegs(pt.segs, absSegs[:skip+i+1]) {
					return true
				}
				continue
			}
			if matchSegs(pt.segs, relSegs[:i+1]) || (len(pt.segs) == 1 && matchSegs(pt.segs, relSegs[i:i+1])) {
				return true
			}
		}
	}
	return false
}
