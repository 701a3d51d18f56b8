package fragstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const crashDirEnv = "FRAGSTORE_CRASH_CHILD_DIR"

// crashPayload is what the child stores for (stream index, sequence).
func crashPayload(stream, seq int) []byte {
	return payload(uint64(stream)<<32|uint64(seq), 1000+(seq*7919)%(200<<10))
}

// TestCrashChild is the process TestKill9KeepsPersistedFragments kills. It
// appends from 16 goroutines and prints one line per PERSISTED fragment.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9KeepsPersistedFragments")
	}
	s, err := Open(Options{Dir: dir, SegmentBytes: 1 << 20, CompactEvery: -1})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	const streams = 16
	for i := range streams {
		if err := s.PutStream(ctx, fmt.Sprintf("cam-%d", i), []byte("meta")); err != nil {
			fmt.Println("put:", err)
			os.Exit(2)
		}
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second) // bounded even if nobody kills us
	for i := range streams {
		wg.Go(func() {
			for seq := 0; seq < 100_000 && time.Now().Before(deadline); seq++ {
				in, err := s.Append(ctx, Fragment{Stream: fmt.Sprintf("cam-%d", i), Number: s.NextFragmentNumber(),
					ProducerMs: int64(seq), ServerMs: time.Now().UnixMilli(), DurationMs: 2000, Parts: [][]byte{crashPayload(i, seq)}})
				if err != nil {
					return
				}
				out.Lock()
				fmt.Printf("ACK %d %d %s\n", i, seq, in.Number) // unbuffered: the parent sees it at once
				out.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(3) // never reached when killed
}

func TestKill9KeepsPersistedFragments(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	type ack struct {
		stream, seq int
		number      string
	}
	var acks []ack
	sc := bufio.NewScanner(stdout)
	killed := false
	timeout := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	defer timeout.Stop()
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ACK" {
			t.Logf("child: %s", sc.Text())
			continue
		}
		st, _ := strconv.Atoi(f[1])
		seq, _ := strconv.Atoi(f[2])
		acks = append(acks, ack{st, seq, f[3]})
		if len(acks) == 300 && !killed {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL)) // mid-write, mid-batch
			killed = true
		}
	}
	err = cmd.Wait()
	require.True(t, killed, "child ended before the kill: %v", err)
	require.GreaterOrEqual(t, len(acks), 300)

	s, err := Open(Options{Dir: dir, CompactEvery: -1, Logf: t.Logf})
	require.NoError(t, err)
	defer s.Close()
	t.Logf("%d acknowledged before SIGKILL; %d fragments recovered; torn tail %d bytes",
		len(acks), s.Stats().Fragments, s.Stats().TruncatedTailBytes)
	for _, a := range acks {
		name := fmt.Sprintf("cam-%d", a.stream)
		in, ok := s.Get(name, a.number)
		require.True(t, ok, "acknowledged fragment %s/%s lost", name, a.number)
		require.Equal(t, int64(a.seq), in.ProducerMs)
		data, err := s.Read(in)
		require.NoError(t, err)
		require.Equal(t, crashPayload(a.stream, a.seq), data, "fragment %s/%s", name, a.number)
	}
	require.Len(t, s.Streams(), 16)
	// And the store takes writes again after the crash.
	add(t, s, "cam-0", -1, 0, 1, []byte("after the crash"))
}
