package scenarios_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// k8sDoc is the part of a Job manifest the sharding mechanics rely on.
type k8sDoc struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    *int   `yaml:"completions"`
		Parallelism    *int   `yaml:"parallelism"`
		BackoffLimit   *int   `yaml:"backoffLimit"`
		Template       struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Args []string `yaml:"args"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func readManifests(t *testing.T, path string) []k8sDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []k8sDoc
	for {
		var d k8sDoc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// TestK8sManifestsAgree checks what makes the Kubernetes run correct: an
// Indexed Job with as many pods as completions, no retries, each pod's
// --shard naming its JOB_COMPLETION_INDEX out of that count, results
// written per index, and a merge Job reading exactly those files.
func TestK8sManifestsAgree(t *testing.T) {
	shards := readManifests(t, "k8s/shards.yaml")
	if len(shards) != 1 || shards[0].Kind != "Job" {
		t.Fatalf("k8s/shards.yaml: want one Job, got %+v", shards)
	}
	s := shards[0].Spec
	if s.CompletionMode != "Indexed" || s.Completions == nil || s.Parallelism == nil || *s.Completions != *s.Parallelism {
		t.Fatalf("shards Job: want completionMode Indexed with completions == parallelism, got %q %v %v", s.CompletionMode, s.Completions, s.Parallelism)
	}
	n := *s.Completions
	if s.BackoffLimit == nil || *s.BackoffLimit != 0 || s.Template.Spec.RestartPolicy != "Never" {
		t.Fatalf("shards Job: a retried shard replays its load late; want backoffLimit 0 and restartPolicy Never")
	}
	args := strings.Join(s.Template.Spec.Containers[0].Args, " ")
	for _, want := range []string{
		"run ", fmt.Sprintf("--shard=$(JOB_COMPLETION_INDEX)/%d", n), "--start-at=$(START_AT)", "--no-thresholds",
		"--out=camstorm=/results/shard-$(JOB_COMPLETION_INDEX).json", "--seed=$(SEED)",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("shards Job args %q lack %q", args, want)
		}
	}
	merge := readManifests(t, "k8s/merge.yaml")
	if len(merge) != 1 || merge[0].Kind != "Job" {
		t.Fatalf("k8s/merge.yaml: want one Job")
	}
	margs := merge[0].Spec.Template.Spec.Containers[0].Args
	if len(margs) < 2 || margs[0] != "results" || margs[1] != "merge" {
		t.Fatalf("merge Job args %q: want results merge ...", margs)
	}
	shardFile := regexp.MustCompile(`^/results/shard-(\d+)\.json$`)
	seen := map[int]bool{}
	for _, a := range margs[2:] {
		if m := shardFile.FindStringSubmatch(a); m != nil {
			i, _ := strconv.Atoi(m[1])
			seen[i] = true
		}
	}
	for i := range n {
		if !seen[i] {
			t.Errorf("merge Job does not read /results/shard-%d.json (completions is %d)", i, n)
		}
	}
	if len(seen) != n {
		t.Errorf("merge Job reads %d shard files, the shards Job writes %d", len(seen), n)
	}
}
