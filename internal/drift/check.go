package drift

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
)

// CheckResult is a release's doc checked against the doc pinned with it.
type CheckResult struct {
	Integration string `json:"integration"`
	Release     int64  `json:"release,omitempty"`
	SpecDigest  string `json:"spec_sha256"`
	// Location is where the vendor doc was read from (the spec's
	// metadata.source_doc.location); shown without user info or query.
	Location      string `json:"location"`
	PinnedSHA256  string `json:"pinned_sha256"`
	CurrentSHA256 string `json:"current_sha256"`
	// Changed is false when the doc at the location is byte for byte the
	// pinned one: nothing was compared (the fast path).
	Changed bool `json:"changed"`
	// Report is what changed that matters to the spec (empty when
	// unchanged).
	Report *Report `json:"report"`
	// Notes say what the check could not cover (a multi-file doc).
	Notes []string `json:"notes,omitempty"`
	// Current is the doc as read, so a rebuild works from exactly the
	// bytes that were checked.
	Current []byte `json:"-"`
}

// HasBreaking says the release is likely to fail against the current doc.
func (c *CheckResult) HasBreaking() bool { return c.Report != nil && c.Report.HasBreaking() }

// NeedsRebuild says the drift warrants a rebuild: a breaking change, or
// NHI list operations the integration does not read yet.
func (c *CheckResult) NeedsRebuild() bool {
	return c.Report != nil && (c.Report.HasBreaking() || len(c.Report.Coverage) > 0)
}

// Check compares the current release's vendor doc, read from its recorded
// location, with the doc pinned when the release was proposed, and keeps
// the changes that matter to the released spec (see Diff). It wraps
// ErrNoPinnedDoc when there is no baseline and ErrDocUnreadable when the
// location cannot be read. q reads the pinned_docs table.
func Check(ctx context.Context, q Querier, rel *governance.Released, o Options) (*CheckResult, error) {
	if rel == nil {
		return nil, errors.New("drift: no release given")
	}
	r, err := CheckSpec(ctx, q, rel.Spec, o)
	if err != nil {
		return nil, fmt.Errorf("%s release %d: %w", rel.Release.Integration, rel.Release.ID, err)
	}
	r.Release = rel.Release.ID
	return r, nil
}

// CheckSpec is Check for a spec's YAML, released or not.
func CheckSpec(ctx context.Context, q Querier, specYAML []byte, o Options) (*CheckResult, error) {
	// Parse, not Load: the released spec passed the lint of its day; a
	// stricter lint since must not stop the check of what runs.
	doc, err := integration.Parse("integration.yaml", specYAML)
	if err != nil {
		return nil, fmt.Errorf("drift: the spec does not parse: %w", err)
	}
	sp := doc.Spec
	sd := sp.Metadata.SourceDoc
	if sd == nil || sd.Location == "" || sd.SHA256 == "" {
		return nil, fmt.Errorf("%s names no source doc (metadata.source_doc with location and sha256): %w", sp.Metadata.Name, ErrNoPinnedDoc)
	}
	pinned, err := LoadPinned(ctx, q, sd.SHA256)
	if err != nil {
		return nil, err
	}
	cur, err := fetchDoc(ctx, sd.Location, o)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{
		Integration:   sp.Metadata.Name,
		SpecDigest:    Digest(specYAML),
		Location:      Where(sd.Location),
		PinnedSHA256:  pinned.SHA256,
		CurrentSHA256: Digest(cur),
		Current:       cur,
	}
	res.Changed = res.CurrentSHA256 != res.PinnedSHA256
	if refs := ExternalRefs(pinned.Content, 3); len(refs) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("the doc references other documents (%s): only the root document is pinned and compared, so a change inside them is not seen, and what the root takes from them cannot be checked",
			strings.Join(refs, ", ")))
	}
	if !res.Changed {
		// The fast path: the same bytes cannot differ in anything.
		res.Report = &Report{
			Old: Doc{Location: res.Location, SHA256: res.PinnedSHA256}, New: Doc{Location: res.Location, SHA256: res.CurrentSHA256},
			Breaking: []Change{}, NonBreaking: []Change{}, Deprecations: []Change{}, Coverage: []string{},
			Summary: fmt.Sprintf("the doc is unchanged since %s was built (sha256 %s): nothing to compare", sp.Metadata.Name, short(res.PinnedSHA256)),
		}
		return res, nil
	}
	rep, err := diffBytes(ctx, pinned.Content, cur, sd.Location, sp, o)
	if err != nil {
		return nil, err
	}
	if rep.Old.SHA256 != res.PinnedSHA256 || rep.New.SHA256 != res.CurrentSHA256 {
		return nil, fmt.Errorf("drift: the compared copies of %s do not hash to what was read (a concurrent writer in the temporary directory?); run the check again", res.Location)
	}
	rep.Old.Location, rep.New.Location = "pinned copy of "+res.Location, res.Location
	res.Report = rep
	return res, nil
}

// diffBytes runs Diff over two in-memory versions of the doc at location.
// Both are written to a private temporary directory, so the comparison
// reads exactly the bytes that were hashed (a URL could serve something
// else on a second fetch) and treats both versions alike: neither resolves
// external $refs, which a pinned root document cannot.
func diffBytes(ctx context.Context, old, cur []byte, location string, sp *integration.Spec, o Options) (*Report, error) {
	dir, err := os.MkdirTemp("", "spindle-drift-")
	if err != nil {
		return nil, fmt.Errorf("drift: temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	ext := docExt(location)
	oldPath, newPath := filepath.Join(dir, "pinned"+ext), filepath.Join(dir, "current"+ext)
	for p, b := range map[string][]byte{oldPath: old, newPath: cur} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, fmt.Errorf("drift: temporary copy: %w", err)
		}
	}
	start := time.Now()
	r, err := Diff(ctx, oldPath, newPath, sp, o)
	if err != nil {
		// Diff's errors name the temporary copies; name the doc instead.
		msg := strings.NewReplacer(oldPath, "the pinned doc", newPath, Where(location)).Replace(err.Error())
		if ctx.Err() != nil {
			return nil, fmt.Errorf("drift: %s: %w", msg, ctx.Err())
		}
		return nil, fmt.Errorf("drift: compare the doc at %s with the pinned one: %s", Where(location), msg)
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// docExt keeps the location's extension on the temporary copies, for
// parsers that go by it.
func docExt(location string) string {
	p := DocPath(location)
	if isURL(p) {
		p = strings.SplitN(strings.SplitN(p, "?", 2)[0], "#", 2)[0]
	}
	switch e := strings.ToLower(path.Ext(p)); e {
	case ".json", ".yaml", ".yml":
		return e
	}
	return ""
}
