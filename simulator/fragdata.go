package simulator

// fragmentData holds a fragment's bytes as a list of pieces, one per
// frame, each allocated at its exact size: appending never copies what is
// already there, and a buffered fragment holds no unused capacity.
type fragmentData struct {
	pieces [][]byte
	size   int
	// reserve is the size of the next piece, announced before a frame's
	// block is written in several parts (header, then payload).
	reserve int
}

// Len is the number of bytes held.
func (d *fragmentData) Len() int { return d.size }

// expect announces that the next n bytes belong together.
func (d *fragmentData) expect(n int) { d.reserve = n }

// Append adds b, into the last piece if it has room left from expect,
// otherwise into a new piece.
func (d *fragmentData) Append(b []byte) {
	if n := len(d.pieces); n > 0 {
		last := d.pieces[n-1]
		if cap(last)-len(last) >= len(b) {
			d.pieces[n-1] = append(last, b...)
			d.size += len(b)
			return
		}
	}
	piece := make([]byte, 0, max(len(b), d.reserve))
	d.reserve = 0
	d.pieces = append(d.pieces, append(piece, b...))
	d.size += len(b)
}

// From returns the bytes from offset off to the end of the piece that
// holds it: write it, add its length to off, and call From again until
// off reaches Len. The bytes returned never change.
func (d *fragmentData) From(off int) []byte {
	for _, p := range d.pieces {
		if off < len(p) {
			return p[off:]
		}
		off -= len(p)
	}
	return nil
}
