package tfmodel

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/ganhost/ganhost/go/gan"
)

// Save writes the model's current variables as a complete SavedModel in dir, which must not
// exist yet. The graph (saved_model.pb) is the one the model was loaded from, so the result has
// the same signatures and loads in Go and in Python's tf.saved_model.load. fingerprint.pb is not
// written: it hashes the original variables and would be stale.
// Errors: ECONFLICT when dir exists; EINTERNAL when writing fails.
func (m *Model) Save(dir string) error {
	if _, err := os.Lstat(dir); err == nil {
		return gan.Errorf(gan.ECONFLICT, "%s already exists", dir)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saveLocked(dir)
}

func (m *Model) saveLocked(dir string) error {
	if m.session == nil {
		return gan.Errorf(gan.EUNAVAILABLE, "model %s is closed", m.dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "variables"), 0o755); err != nil {
		return gan.Wrap(err, gan.EINTERNAL, "cannot create "+dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "saved_model.pb"), m.savedModel, 0o644); err != nil {
		return gan.Wrap(err, gan.EINTERNAL, "cannot write saved_model.pb")
	}
	if err := copyAssets(filepath.Join(m.dir, "assets"), filepath.Join(dir, "assets")); err != nil {
		return gan.Wrap(err, gan.EINTERNAL, "cannot copy assets")
	}
	prefix, err := tf.NewTensor(filepath.Join(dir, "variables", "variables"))
	if err != nil {
		return gan.Wrap(err, gan.EINTERNAL, "cannot build checkpoint prefix")
	}
	if _, err := m.session.Run(map[tf.Output]*tf.Tensor{m.saverFilename: prefix}, []tf.Output{m.saverSave}, nil); err != nil {
		return gan.Wrap(err, gan.EINTERNAL, "cannot write variables to "+dir)
	}
	if err := syncTree(dir); err != nil {
		return gan.Wrap(err, gan.EINTERNAL, "cannot sync "+dir)
	}
	return nil
}

// SaveVersion writes the current variables as version N+1 under the TF-Serving-style base
// directory (numeric subdirectories are versions) and returns N+1. The version is written to a
// hidden temporary directory, synced and renamed, so readers never see a partial version.
// Errors: EINTERNAL when writing fails (nothing is left behind under base).
func (m *Model) SaveVersion(base string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := os.MkdirAll(base, 0o755); err != nil {
		return 0, gan.Wrap(err, gan.EINTERNAL, "cannot create "+base)
	}
	versions, err := Versions(base)
	if err != nil {
		return 0, err
	}
	next := int64(1)
	if len(versions) > 0 {
		next = versions[len(versions)-1] + 1
	}
	tmp, err := os.MkdirTemp(base, tmpVersionPrefix)
	if err != nil {
		return 0, storageError(base, next, gan.Wrap(err, gan.EINTERNAL, "cannot create a temporary directory in "+base))
	}
	final := filepath.Join(base, strconv.FormatInt(next, 10))
	if err := m.saveLocked(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return 0, storageError(base, next, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		return 0, gan.Wrap(err, gan.EINTERNAL, "cannot publish version "+final)
	}
	if err := syncDir(base); err != nil {
		return 0, gan.Wrap(err, gan.EINTERNAL, "cannot sync "+base)
	}
	return next, nil
}

// storageError rewords a failed save whose cause is the file system (full, over quota, over the
// file size limit, read-only, not permitted) so the operator reads what to fix, and that nothing
// was lost. TensorFlow's checkpoint writer reports errno only as strerror text inside its status
// message, so the text is matched too.
func storageError(base string, version int64, err error) error {
	problems := []struct {
		errno syscall.Errno
		what  string
	}{
		{syscall.ENOSPC, "the disk is full"},
		{syscall.EDQUOT, "the disk quota is used up"},
		{syscall.EFBIG, "a file would exceed the process's file size limit"},
		{syscall.EROFS, "the file system is read-only"},
		{syscall.EACCES, "this process may not write there"},
		{syscall.EPERM, "this process may not write there"},
	}
	text := strings.ToLower(err.Error())
	for _, p := range problems {
		if errors.Is(err, p.errno) || strings.Contains(text, p.errno.Error()) {
			return gan.Wrap(err, gan.EINTERNAL, fmt.Sprintf(
				"cannot save version %d under %s: %s (%s); the existing versions and the training state in memory are unchanged, save again once that is fixed",
				version, base, p.what, p.errno.Error()))
		}
	}
	return err
}

// tmpVersionPrefix names the hidden directories versions are written into before the rename.
const tmpVersionPrefix = ".tmp-version-"

// removeInterruptedSaves deletes temporary version directories left by a save that was killed
// before its rename, and reports each.
func removeInterruptedSaves(base string, log *slog.Logger) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), tmpVersionPrefix) {
			err := os.RemoveAll(filepath.Join(base, e.Name()))
			log.Warn("removed the directory of an interrupted version save", "dir", filepath.Join(base, e.Name()), "err", err)
		}
	}
}

// Versions returns the complete versions under base in ascending order: numeric directory names
// holding saved_model.pb and variables/variables.index. Anything else (temporary directories of
// an interrupted save, stray files) is ignored.
// Errors: ENOTFOUND when base does not exist.
func Versions(base string) ([]int64, error) {
	entries, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, gan.Errorf(gan.ENOTFOUND, "model base path %s does not exist", base)
	} else if err != nil {
		return nil, gan.Wrap(err, gan.EINTERNAL, "cannot list "+base)
	}
	var versions []int64
	for _, e := range entries {
		v, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || v < 1 || !e.IsDir() || !complete(filepath.Join(base, e.Name())) {
			continue
		}
		versions = append(versions, v)
	}
	slices.Sort(versions)
	return versions, nil
}

// incompleteVersions returns the numeric directories under base that Versions ignores because
// they are not complete, for start-up to report: someone may have copied a version by hand.
func incompleteVersions(base string) []string {
	entries, _ := os.ReadDir(base)
	var dirs []string
	for _, e := range entries {
		dir := filepath.Join(base, e.Name())
		if v, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && v >= 1 && e.IsDir() && !complete(dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// OpenLatest opens the highest complete version under base. When it does not load (a corrupted
// or wrong model), it falls back to the next older version, so one bad save cannot take the
// service down; the versions skipped are returned with their errors, for the caller to report.
// Errors: ENOTFOUND when base has no complete version; when no version loads, the newest's
// error.
func OpenLatest(base string) (*Model, int64, error) {
	m, v, _, err := OpenNewestLoadable(base)
	return m, v, err
}

// OpenNewestLoadable is OpenLatest that also returns the newer versions that failed to load.
func OpenNewestLoadable(base string) (*Model, int64, map[int64]error, error) {
	versions, err := Versions(base)
	if err != nil {
		return nil, 0, nil, err
	}
	if len(versions) == 0 {
		return nil, 0, nil, gan.Errorf(gan.ENOTFOUND, "model base path %s has no complete version", base)
	}
	bad := map[int64]error{}
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		m, err := Open(VersionDir(base, v))
		if err == nil {
			return m, v, bad, nil
		}
		bad[v] = err
	}
	return nil, 0, bad, bad[versions[len(versions)-1]]
}

// VersionDir returns the directory of version v under base.
func VersionDir(base string, v int64) string {
	return filepath.Join(base, strconv.FormatInt(v, 10))
}

func complete(dir string) bool {
	for _, f := range []string{"saved_model.pb", filepath.Join("variables", "variables.index")} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

func copyAssets(from, to string) error {
	entries, err := os.ReadDir(from)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return fmt.Errorf("asset %s is not a regular file", e.Name())
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// syncTree fsyncs every file and directory under dir, so a rename that publishes it cannot
// outlive its contents in a crash.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return syncDir(path)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
