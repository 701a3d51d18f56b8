package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// ImageRepo is the repository of every image this package builds.
const ImageRepo = "camstorm-stack"

// recipe names the Dockerfile below; an image built by another recipe from
// the same binary is rebuilt.
const recipe = "2"

// The image holds the binary and an empty /tmp (scratch has none, and
// camstorm without --data keeps its data in a temporary directory).
const dockerfile = `FROM scratch
COPY tmp /tmp
COPY camstorm /camstorm
ENTRYPOINT ["/camstorm"]
`

// cmdPackage is what is built when no binary is given.
const cmdPackage = "github.com/camstorm/camstorm/cmd/camstorm"

// ImageOptions say where the binary for the image comes from.
type ImageOptions struct {
	// Binary is the path of a statically linked Linux camstorm binary.
	// Empty: the running executable if PreferExecutable is set and it is
	// static, else camstorm built from source (see Dir).
	Binary string
	// PreferExecutable uses the running executable when it is a static ELF
	// binary. Only the camstorm CLI may set it: a test binary is not
	// camstorm.
	PreferExecutable bool
	// Dir is where the Go module to build from is looked up (go env GOMOD);
	// empty means the working directory.
	Dir string
	// BuildLog receives the go build and docker build output; nil
	// discards it.
	BuildLog io.Writer
	// KeepImages is how many camstorm-stack images (newest first) survive
	// a build of a new one; older ones (built over an hour ago and not used
	// by a container) are removed so that each code change does not leave
	// another image behind. Zero means 3; negative keeps all.
	KeepImages int
}

// imageMu serialises builds within the process.
var imageMu sync.Mutex

// Image returns the reference (camstorm-stack:<hash>) of the image holding
// the binary chosen by opts, building it only if the engine does not have it.
func Image(ctx context.Context, opts ImageOptions) (string, error) {
	if err := checkReaper(); err != nil {
		return "", err
	}
	imageMu.Lock()
	defer imageMu.Unlock()

	bin, cleanup, err := chooseBinary(ctx, opts)
	if err != nil {
		return "", err
	}
	defer cleanup()
	sum, err := fileSHA256(bin)
	if err != nil {
		return "", err
	}
	ref := ImageRepo + ":" + sum[:16]

	cli, err := newClient(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if got, err := cli.ImageInspect(ctx, ref); err == nil {
		if got.Config != nil && got.Config.Labels[LabelRecipe] == recipe && got.Config.Labels[LabelBinarySHA256] == sum {
			return ref, nil
		}
	} else if !errdefs.IsNotFound(err) {
		return "", fmt.Errorf("containers: inspect image %s: %w", ref, err)
	}
	if err := buildImage(ctx, bin, sum, opts.BuildLog); err != nil {
		return "", err
	}
	keep := opts.KeepImages
	if keep == 0 {
		keep = 3
	}
	if keep > 0 {
		pruneImages(ctx, cli, ref, keep)
	}
	return ref, nil
}

// chooseBinary applies the order documented in the package comment.
func chooseBinary(ctx context.Context, opts ImageOptions) (path string, cleanup func(), err error) {
	noop := func() {}
	if opts.Binary != "" {
		if err := checkStatic(opts.Binary); err != nil {
			return "", noop, err
		}
		return opts.Binary, noop, nil
	}
	if opts.PreferExecutable && runtime.GOOS == "linux" {
		if exe, err := os.Executable(); err == nil && checkStatic(exe) == nil {
			return exe, noop, nil
		}
	}
	dir, err := os.MkdirTemp("", "camstorm-image-")
	if err != nil {
		return "", noop, fmt.Errorf("containers: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	bin := filepath.Join(dir, "camstorm")
	if err := buildBinary(ctx, opts.Dir, bin, opts.BuildLog); err != nil {
		cleanup()
		return "", noop, err
	}
	return bin, cleanup, nil
}

// buildBinary compiles camstorm with CGO_ENABLED=0 in the module found in
// dir.
func buildBinary(ctx context.Context, dir, out string, log io.Writer) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("containers: the running camstorm is not a static binary and no Go toolchain is on PATH to build one (%v); "+
			"use a camstorm built with CGO_ENABLED=0, or install Go and run from a camstorm checkout", err)
	}
	gomod, err := goOutput(ctx, goTool, dir, nil, "env", "GOMOD")
	if err != nil {
		return err
	}
	if gomod == "" || gomod == os.DevNull {
		where := dir
		if where == "" {
			where, _ = os.Getwd()
		}
		return fmt.Errorf("containers: %s is not inside a Go module, so camstorm cannot be built from source; "+
			"run from a camstorm checkout, or use a camstorm built with CGO_ENABLED=0", where)
	}
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-buildvcs=false", "-o", out, cmdPackage)
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdout = writerOr(log)
	cmd.Stderr = io.MultiWriter(&stderr, writerOr(log))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("containers: build %s in %s with CGO_ENABLED=0: %w: %s",
			cmdPackage, cmd.Dir, err, strings.TrimSpace(lastBytes(stderr.Bytes(), 2000)))
	}
	return nil
}

func goOutput(ctx context.Context, goTool, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			stderr = ee.Stderr
		}
		return "", fmt.Errorf("containers: go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(stderr)))
	}
	return strings.TrimSpace(string(out)), nil
}

// ErrNotStatic is wrapped when a binary cannot run in a FROM scratch image.
var ErrNotStatic = errors.New("not a statically linked Linux binary")

// checkStatic accepts an ELF executable for this architecture without an
// interpreter (PT_INTERP), i.e. one that needs no dynamic loader.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("containers: %s: %w (%v); build camstorm with CGO_ENABLED=0", path, ErrNotStatic, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("containers: %s: %w (ELF type %v is not an executable)", path, ErrNotStatic, f.Type)
	}
	if want := elfMachine(runtime.GOARCH); want != elf.EM_NONE && f.Machine != want {
		return fmt.Errorf("containers: %s: %w (built for %v, this machine is %v)", path, ErrNotStatic, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("containers: %s: %w (it needs a dynamic loader, PT_INTERP); build camstorm with CGO_ENABLED=0", path, ErrNotStatic)
		}
	}
	return nil
}

func elfMachine(goarch string) elf.Machine {
	switch goarch {
	case "amd64":
		return elf.EM_X86_64
	case "arm64":
		return elf.EM_AARCH64
	case "386":
		return elf.EM_386
	case "arm":
		return elf.EM_ARM
	case "riscv64":
		return elf.EM_RISCV
	case "ppc64le":
		return elf.EM_PPC64
	case "s390x":
		return elf.EM_S390
	}
	return elf.EM_NONE
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("containers: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("containers: read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// buildTimeout bounds the docker build, which testcontainers retries with
// backoff for up to 15 minutes on transient errors.
const buildTimeout = 3 * time.Minute

// buildImage sends a context of the Dockerfile and the binary, written to a
// temporary file so that a large binary is not held in memory.
func buildImage(ctx context.Context, bin, sum string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	tarFile, err := os.CreateTemp("", "camstorm-image-context-*.tar")
	if err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	defer os.Remove(tarFile.Name())
	defer tarFile.Close()
	if err := writeContext(tarFile, bin); err != nil {
		return err
	}
	if _, err := tarFile.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	labels := map[string]string{LabelStack: "1", LabelBinarySHA256: sum, LabelRecipe: recipe}
	req := &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		ContextArchive: tarFile,
		Repo:           ImageRepo,
		Tag:            sum[:16],
		KeepImage:      true,
		BuildLogWriter: writerOr(log),
		BuildOptionsModifier: func(o *client.ImageBuildOptions) {
			o.Labels = labels
		},
	}}
	provider, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tclog.NewNoopLogger()))
	if err != nil {
		return unreachable(err)
	}
	defer provider.Close()
	if _, err := provider.BuildImage(ctx, req); err != nil {
		return fmt.Errorf("containers: build image %s:%s FROM scratch: %w", ImageRepo, sum[:16], err)
	}
	return nil
}

func writeContext(w io.Writer, bin string) error {
	f, err := os.Open(bin)
	if err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		return fmt.Errorf("containers: image context: %w", err)
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return fmt.Errorf("containers: image context: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}); err != nil {
		return fmt.Errorf("containers: image context: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "camstorm", Mode: 0o755, Size: st.Size()}); err != nil {
		return fmt.Errorf("containers: image context: %w", err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("containers: image context: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("containers: image context: %w", err)
	}
	return nil
}

// pruneMinAge spares images built recently: another process may have
// just got one from Image and not yet created its container.
const pruneMinAge = time.Hour

// pruneImages removes camstorm-stack images beyond the newest keep, except
// current, those younger than pruneMinAge and any a container still uses
// (the engine refuses those).
func pruneImages(ctx context.Context, cli *testcontainers.DockerClient, current string, keep int) {
	list, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelStack+"=1")})
	if err != nil {
		return
	}
	imgs := list.Items
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Created > imgs[j].Created })
	for i, img := range imgs {
		if i < keep || slices.Contains(img.RepoTags, current) || time.Since(time.Unix(img.Created, 0)) < pruneMinAge {
			continue
		}
		_, _ = cli.ImageRemove(ctx, img.ID, client.ImageRemoveOptions{PruneChildren: true})
	}
}

// RemoveImage removes an image built by Image; an image a container still
// uses is left in place without an error.
func RemoveImage(ctx context.Context, ref string) error {
	if err := checkReaper(); err != nil {
		return err
	}
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	return removeImage(ctx, cli, ref)
}

func removeImage(ctx context.Context, cli *testcontainers.DockerClient, ref string) error {
	_, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	if err == nil || errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
		return nil
	}
	return fmt.Errorf("containers: remove image %s: %w", ref, err)
}

func writerOr(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
