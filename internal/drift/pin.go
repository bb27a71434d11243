package drift

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/integration"
)

// Pinned docs are the baseline of drift checks: the exact bytes of the
// vendor doc a spec was built from, stored content-addressed (sha256) in
// the pinned_docs table when the spec is proposed. The functions take a
// *sql.DB or *sql.Tx and use portable SQL ('?' placeholders, ON CONFLICT),
// so they run on SQLite and on PostgreSQL through the store's wrapper.

// ErrNoPinnedDoc means a drift check has no baseline: the spec names no
// source doc (it was written by hand, or from prose), or its doc was never
// pinned (proposed before docs were pinned, or while the doc was
// unreadable).
var ErrNoPinnedDoc = errors.New("no pinned doc; rebuild from a doc to enable drift checks")

// ErrDocChanged means the doc at a spec's recorded location no longer
// hashes to the spec's metadata.source_doc.sha256.
var ErrDocChanged = errors.New("the vendor doc changed since the spec was built")

// BundleDocFile is the copy of the source doc a proposal bundle may carry
// (rebuilds write it), so the doc can be pinned even after the file or URL
// at the recorded location has changed. It is trusted only when it hashes
// to the spec's metadata.source_doc.sha256.
const BundleDocFile = "source-doc"

// Execer runs a statement: *sql.DB or *sql.Tx.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Querier reads one row: *sql.DB or *sql.Tx.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// PinnedDoc is one stored document.
type PinnedDoc struct {
	SHA256   string    `json:"sha256"`
	Location string    `json:"location"` // where it was first read from
	Size     int64     `json:"size"`
	PinnedAt time.Time `json:"pinned_at"`
	Content  []byte    `json:"-"`
}

// Digest is the hex sha256 of b, as metadata.source_doc.sha256 records it.
func Digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Pin stores content under its sha256. Pinning the same bytes again is a
// no-op (created is false): the first location and time are kept.
func Pin(ctx context.Context, x Execer, location string, content []byte, at time.Time) (doc PinnedDoc, created bool, err error) {
	if len(content) == 0 {
		return PinnedDoc{}, false, errors.New("drift: refusing to pin an empty doc")
	}
	doc = PinnedDoc{SHA256: Digest(content), Location: location, Size: int64(len(content)), PinnedAt: at.UTC(), Content: content}
	res, err := x.ExecContext(ctx, `INSERT INTO pinned_docs (sha256, location, size, content, pinned_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (sha256) DO NOTHING`, doc.SHA256, location, doc.Size, content, doc.PinnedAt.UnixNano())
	if err != nil {
		return PinnedDoc{}, false, fmt.Errorf("drift: pin the doc %s: %w", short(doc.SHA256), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return PinnedDoc{}, false, fmt.Errorf("drift: pin the doc %s: %w", short(doc.SHA256), err)
	}
	return doc, n == 1, nil
}

// LoadPinned reads the pinned doc with this sha256, wrapping ErrNoPinnedDoc
// when there is none. The content is hashed again: a row altered in the
// database is an error, never a silent wrong baseline.
func LoadPinned(ctx context.Context, q Querier, sha string) (*PinnedDoc, error) {
	if sha == "" {
		return nil, ErrNoPinnedDoc
	}
	var d PinnedDoc
	var at int64
	err := q.QueryRowContext(ctx, `SELECT sha256, location, size, content, pinned_at FROM pinned_docs WHERE sha256 = ?`, sha).
		Scan(&d.SHA256, &d.Location, &d.Size, &d.Content, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("doc %s was never pinned (proposed before docs were pinned, or while it was unreadable): %w", short(sha), ErrNoPinnedDoc)
	}
	if err != nil {
		return nil, fmt.Errorf("drift: read pinned doc %s: %w", short(sha), err)
	}
	if got := Digest(d.Content); got != sha || int64(len(d.Content)) != d.Size {
		return nil, fmt.Errorf("drift: pinned doc %s was altered in the database (its content hashes to %s, %d bytes): restore the database from a backup, or rebuild from the vendor doc and have the proposal approved", short(sha), short(got), len(d.Content))
	}
	d.PinnedAt = time.Unix(0, at).UTC()
	return &d, nil
}

// Source is the vendor doc a spec says it was built from, read and
// verified against metadata.source_doc.sha256.
type Source struct {
	Location string `json:"location"`
	SHA256   string `json:"sha256"`
	// FromBundle: the bytes came from the bundle's BundleDocFile, not the
	// location.
	FromBundle bool   `json:"from_bundle"`
	Content    []byte `json:"-"`
}

// SourceFor reads the doc spec was built from, for pinning: the bundle's
// copy (bundleDir/BundleDocFile) when it has one, else the recorded
// location; either way the bytes must hash to metadata.source_doc.sha256.
// It returns nil, nil for a spec with no source doc or no digest of it
// (nothing to verify against; its drift checks will say so). A doc that
// changed wraps ErrDocChanged; one that cannot be read ErrDocUnreadable.
func SourceFor(ctx context.Context, spec *integration.Spec, bundleDir string, o Options) (*Source, error) {
	if spec == nil || spec.Metadata.SourceDoc == nil || spec.Metadata.SourceDoc.SHA256 == "" || spec.Metadata.SourceDoc.Location == "" {
		return nil, nil
	}
	sd := spec.Metadata.SourceDoc
	if bundleDir != "" {
		copyPath := filepath.Join(bundleDir, BundleDocFile)
		if _, err := os.Stat(copyPath); err == nil {
			b, err := fetchDoc(ctx, copyPath, o)
			if err != nil {
				return nil, err
			}
			if got := Digest(b); got != sd.SHA256 {
				return nil, fmt.Errorf("%s hashes to %s, but the spec was built from %s: the bundle's copy is not the doc the spec was built from; remove it, or rebuild the bundle", copyPath, short(got), short(sd.SHA256))
			}
			return &Source{Location: sd.Location, SHA256: sd.SHA256, FromBundle: true, Content: b}, nil
		}
	}
	b, err := fetchDoc(ctx, sd.Location, o)
	if err != nil {
		return nil, err
	}
	if got := Digest(b); got != sd.SHA256 {
		return nil, fmt.Errorf("%w: the doc at %s now hashes to %s, but the spec was built from %s, so its baseline cannot be pinned; "+
			"rebuild from the current doc (`spindle build %s --out DIR`) and propose that, or put the exact doc the build read in DIR/%s",
			ErrDocChanged, Where(sd.Location), short(got), short(sd.SHA256), Where(sd.Location), BundleDocFile)
	}
	return &Source{Location: sd.Location, SHA256: sd.SHA256, Content: b}, nil
}

// externalRefRE finds $ref values that point outside the document (not
// "#/…"), in JSON or YAML.
var externalRefRE = regexp.MustCompile(`["']?\$ref["']?[ \t]*:[ \t]*["']?([^"'#\s{}\[\],][^"'\s{}\[\],]*)`)

// ExternalRefs lists (up to max) distinct targets of $refs that leave the
// document: a multi-file doc, of which only the root is pinned.
func ExternalRefs(content []byte, max int) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range externalRefRE.FindAllSubmatch(content, -1) {
		ref := string(bytes.SplitN(m[1], []byte("#"), 2)[0])
		// A property named $ref (a schema of JSON Reference objects) is a
		// key with a mapping under it, not a reference.
		if ref == "" || seen[ref] || strings.HasSuffix(ref, ":") {
			continue
		}
		seen[ref] = true
		out = append(out, ref)
		if len(out) == max {
			break
		}
	}
	return out
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// Auditor records an event inside the caller's transaction; *audit.Log
// implements it.
type Auditor interface {
	AppendTx(ctx context.Context, tx *sql.Tx, ev audit.Event) (audit.Entry, error)
}

// PinSource pins src and, when it was not pinned before, records a
// "doc.pin" audit entry by actor in the same transaction, so a pin without
// its entry cannot commit.
func PinSource(ctx context.Context, db *sql.DB, log Auditor, actor audit.Actor, boundary string, src *Source, at time.Time) (PinnedDoc, bool, error) {
	if src == nil {
		return PinnedDoc{}, false, errors.New("drift: no doc to pin")
	}
	if log == nil {
		return PinnedDoc{}, false, errors.New("drift: no audit log; pinning a doc is audited")
	}
	if Digest(src.Content) != src.SHA256 {
		return PinnedDoc{}, false, fmt.Errorf("drift: the doc to pin does not hash to %s", short(src.SHA256))
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return PinnedDoc{}, false, fmt.Errorf("drift: pin: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	doc, created, err := Pin(ctx, tx, src.Location, src.Content, at)
	if err != nil {
		return PinnedDoc{}, false, err
	}
	if created {
		if _, err := log.AppendTx(ctx, tx, audit.Event{Actor: actor, Action: "doc.pin", Object: "doc:" + doc.SHA256, Boundary: boundary,
			Details: map[string]any{"location": Where(src.Location), "size": doc.Size, "from_bundle": src.FromBundle}}); err != nil {
			return PinnedDoc{}, false, fmt.Errorf("drift: audit the pin: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return PinnedDoc{}, false, fmt.Errorf("drift: pin: commit: %w", err)
	}
	return doc, created, nil
}
