package segment

import "testing"

func BenchmarkParseShard1000(b *testing.B) {
	for b.Loop() {
		if _, err := ParseShard("7/1000"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseShardMax(b *testing.B) {
	for b.Loop() {
		if _, err := ParseShard("7/10000"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewTupleUneven(b *testing.B) {
	seg, _ := ParseSegment("3/7:1/2")
	seq, _ := ParseSequence("0,1/9,3/7,1/2,5/6,1")
	for b.Loop() {
		if _, err := NewTuple(seg, seq); err != nil {
			b.Fatal(err)
		}
	}
}

func benchTuple(b *testing.B) *Tuple {
	b.Helper()
	seg, _ := ParseSegment("3/7:1/2")
	seq, _ := ParseSequence("0,1/9,3/7,1/2,5/6,1")
	tu, err := NewTuple(seg, seq)
	if err != nil {
		b.Fatal(err)
	}
	return tu
}

func BenchmarkOwns(b *testing.B) {
	tu := benchTuple(b)
	var g int64
	for b.Loop() {
		tu.Owns(g)
		g++
	}
}

func BenchmarkGlobalIndex(b *testing.B) {
	tu := benchTuple(b)
	var l int64
	for b.Loop() {
		tu.GlobalIndex(l)
		l++
	}
}

func BenchmarkScale(b *testing.B) {
	tu := benchTuple(b)
	var n int64
	for b.Loop() {
		tu.Scale(n)
		n++
	}
}
