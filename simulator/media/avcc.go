package media

// Just enough H.264 (ITU-T H.264) to make a synthetic stream that decoders
// accept: a Constrained Baseline SPS and PPS for a given picture size, packed
// into the avcC record (ISO/IEC 14496-15 §5.3.3) that Matroska carries as
// CodecPrivate, and the smallest valid slices: an IDR picture of flat grey
// Intra 16x16 macroblocks and P pictures whose macroblocks are all skipped.

const (
	nalSEI           = 0x06 // nal_ref_idc 0, type 6
	nalSPS           = 0x67 // nal_ref_idc 3, type 7
	nalPPS           = 0x68 // nal_ref_idc 3, type 8
	nalIDRSlice      = 0x65 // nal_ref_idc 3, type 5
	nalNonIDRSlice   = 0x41 // nal_ref_idc 2, type 1
	nalPadding       = 0x1E // nal_ref_idc 0, type 30: unspecified, ignored by decoders
	profileBaseline  = 66
	constraintSet0_1 = 0xC0 // Constrained Baseline
	log2MaxFrameNum  = 4    // frame_num counts 0..15
	sliceTypeP       = 5    // P, and every slice of the picture is P
	sliceTypeI       = 7    // I, and every slice of the picture is I
)

// bitWriter writes an RBSP most significant bit first.
type bitWriter struct {
	buf   []byte
	nbits int
}

func (w *bitWriter) bit(b uint) {
	if w.nbits%8 == 0 {
		w.buf = append(w.buf, 0)
	}
	if b != 0 {
		w.buf[len(w.buf)-1] |= 0x80 >> uint(w.nbits%8)
	}
	w.nbits++
}

func (w *bitWriter) bits(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bit(uint(v>>uint(i)) & 1)
	}
}

// ue writes an unsigned Exp-Golomb code (§9.1).
func (w *bitWriter) ue(v uint64) {
	v++
	n := 0
	for x := v; x > 1; x >>= 1 {
		n++
	}
	w.bits(0, n)
	w.bits(v, n+1)
}

// trailing writes rbsp_trailing_bits: a stop bit, then zeros to a byte boundary.
func (w *bitWriter) trailing() {
	w.bit(1)
	for w.nbits%8 != 0 {
		w.bit(0)
	}
}

// escapeRBSP inserts emulation-prevention bytes (§7.4.1) so no 0x000000..03
// sequence appears inside the NAL unit.
func escapeRBSP(header byte, rbsp []byte) []byte {
	out := []byte{header}
	zeros := 0
	for _, b := range rbsp {
		if zeros == 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// levelFor picks the lowest of levels 4.0, 5.1 and 6.2 whose frame-size limit
// (Table A-1, MaxFS in macroblocks) holds the picture.
func levelFor(macroblocks int) byte {
	switch {
	case macroblocks <= 8192:
		return 40
	case macroblocks <= 36864:
		return 51
	default:
		return 62
	}
}

// spsFor returns an SPS NAL unit for a width x height 4:2:0 progressive
// picture; width and height must be even.
func spsFor(width, height int) []byte {
	mbW, mbH := (width+15)/16, (height+15)/16
	var w bitWriter
	w.bits(profileBaseline, 8)
	w.bits(constraintSet0_1, 8)
	w.bits(uint64(levelFor(mbW*mbH)), 8)
	w.ue(0)  // seq_parameter_set_id
	w.ue(0)  // log2_max_frame_num_minus4
	w.ue(2)  // pic_order_cnt_type: output order = decode order
	w.ue(1)  // max_num_ref_frames
	w.bit(0) // gaps_in_frame_num_value_allowed_flag
	w.ue(uint64(mbW - 1))
	w.ue(uint64(mbH - 1))
	w.bit(1)                                                     // frame_mbs_only_flag
	w.bit(1)                                                     // direct_8x8_inference_flag
	cropRight, cropBottom := (mbW*16-width)/2, (mbH*16-height)/2 // in 2-pixel units for 4:2:0
	if cropRight != 0 || cropBottom != 0 {
		w.bit(1)
		w.ue(0)
		w.ue(uint64(cropRight))
		w.ue(0)
		w.ue(uint64(cropBottom))
	} else {
		w.bit(0)
	}
	w.bit(0) // vui_parameters_present_flag
	w.trailing()
	return escapeRBSP(nalSPS, w.buf)
}

// pps returns the PPS NAL unit matching spsFor: CAVLC, one slice group, no
// weighted prediction, deblocking control present.
func pps() []byte {
	var w bitWriter
	w.ue(0)      // pic_parameter_set_id
	w.ue(0)      // seq_parameter_set_id
	w.bit(0)     // entropy_coding_mode_flag (CAVLC)
	w.bit(0)     // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)      // num_slice_groups_minus1
	w.ue(0)      // num_ref_idx_l0_default_active_minus1
	w.ue(0)      // num_ref_idx_l1_default_active_minus1
	w.bit(0)     // weighted_pred_flag
	w.bits(0, 2) // weighted_bipred_idc
	w.ue(0)      // pic_init_qp_minus26 = se(0)
	w.ue(0)      // pic_init_qs_minus26 = se(0)
	w.ue(0)      // chroma_qp_index_offset = se(0)
	w.bit(1)     // deblocking_filter_control_present_flag
	w.bit(0)     // constrained_intra_pred_flag
	w.bit(0)     // redundant_pic_cnt_present_flag
	w.trailing()
	return escapeRBSP(nalPPS, w.buf)
}

// avcConfigFor returns the avcC record (4-byte NAL lengths) for a synthetic
// width x height stream.
func avcConfigFor(width, height int) []byte {
	sps, pps := spsFor(width, height), pps()
	out := []byte{
		1,                      // configurationVersion
		sps[1], sps[2], sps[3], // profile, constraints, level
		0xFC | 3, // lengthSizeMinusOne: 4-byte NAL lengths
		0xE0 | 1, // one SPS
		byte(len(sps) >> 8), byte(len(sps)),
	}
	out = append(out, sps...)
	out = append(out, 1, byte(len(pps)>>8), byte(len(pps)))
	return append(out, pps...)
}

// sliceNAL returns a whole slice NAL unit for a picture of the given size in
// macroblocks: an IDR I slice (frame_num 0) of flat grey macroblocks, or a P
// slice with the given frame_num whose macroblocks are all skipped, so the
// picture repeats the previous one.
func sliceNAL(macroblocks int, idr bool, frameNum, idrPicID uint64) []byte {
	var w bitWriter
	w.ue(0) // first_mb_in_slice
	if idr {
		w.ue(sliceTypeI)
	} else {
		w.ue(sliceTypeP)
	}
	w.ue(0) // pic_parameter_set_id
	w.bits(frameNum, log2MaxFrameNum)
	if idr {
		w.ue(idrPicID)
	}
	// pic_order_cnt_type 2: no POC fields.
	if !idr {
		w.bit(0) // num_ref_idx_active_override_flag
		w.bit(0) // ref_pic_list_modification_flag_l0
	}
	// dec_ref_pic_marking
	if idr {
		w.bit(0) // no_output_of_prior_pics_flag
		w.bit(0) // long_term_reference_flag
	} else {
		w.bit(0) // adaptive_ref_pic_marking_mode_flag: sliding window
	}
	w.ue(0) // slice_qp_delta = se(0)
	w.ue(1) // disable_deblocking_filter_idc: off
	if idr {
		// Every macroblock: mb_type I_16x16_2_0_0 (DC prediction, no coded
		// residual) = ue(3), intra_chroma_pred_mode DC = ue(0), mb_qp_delta
		// se(0), and an empty Intra16x16 DC block (coeff_token "1", nC 0).
		// DC prediction with or without neighbours gives mid grey.
		for range macroblocks {
			w.bits(0b00100_1_1_1, 8)
		}
	} else {
		w.ue(uint64(macroblocks)) // mb_skip_run: the whole picture
	}
	w.trailing()
	header := byte(nalNonIDRSlice)
	if idr {
		header = nalIDRSlice
	}
	return escapeRBSP(header, w.buf)
}
