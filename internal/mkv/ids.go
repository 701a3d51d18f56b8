package mkv

// Element IDs of the KVS profile (RFC 8794 / RFC 9559), with their marker bits.
const (
	IDEBML               = 0x1A45DFA3
	IDEBMLVersion        = 0x4286
	IDEBMLReadVersion    = 0x42F7
	IDEBMLMaxIDLength    = 0x42F2
	IDEBMLMaxSizeLength  = 0x42F3
	IDDocType            = 0x4282
	IDDocTypeVersion     = 0x4287
	IDDocTypeReadVersion = 0x4285
	IDVoid               = 0xEC
	IDCRC32              = 0xBF

	IDSegment       = 0x18538067
	IDSeekHead      = 0x114D9B74
	IDInfo          = 0x1549A966
	IDSegmentUID    = 0x73A4
	IDTimecodeScale = 0x2AD7B1
	IDDuration      = 0x4489
	IDTitle         = 0x7BA9
	IDMuxingApp     = 0x4D80
	IDWritingApp    = 0x5741

	IDTracks            = 0x1654AE6B
	IDTrackEntry        = 0xAE
	IDTrackNumber       = 0xD7
	IDTrackUID          = 0x73C5
	IDTrackType         = 0x83
	IDCodecID           = 0x86
	IDName              = 0x536E
	IDCodecPrivate      = 0x63A2
	IDDefaultDuration   = 0x23E383
	IDVideo             = 0xE0
	IDPixelWidth        = 0xB0
	IDPixelHeight       = 0xBA
	IDAudio             = 0xE1
	IDSamplingFrequency = 0xB5
	IDChannels          = 0x9F
	IDBitDepth          = 0x6264
	IDContentEncodings  = 0x6D80

	IDCluster        = 0x1F43B675
	IDTimecode       = 0xE7
	IDPosition       = 0xA7
	IDPrevSize       = 0xAB
	IDSimpleBlock    = 0xA3
	IDBlockGroup     = 0xA0
	IDBlock          = 0xA1
	IDReferenceBlock = 0xFB
	IDBlockDuration  = 0x9B

	IDCues        = 0x1C53BB6B
	IDChapters    = 0x1043A770
	IDAttachments = 0x1941A469

	IDTags      = 0x1254C367
	IDTag       = 0x7373
	IDTargets   = 0x63C0
	IDSimpleTag = 0x67C8
	IDTagName   = 0x45A3
	IDTagString = 0x4487
	IDTagBinary = 0x4485
)

// Track types (TrackType values).
const (
	TrackVideo    = 1
	TrackAudio    = 2
	TrackMetadata = 0x21
)

// CodecIDs used by KVS producers.
const (
	CodecH264 = "V_MPEG4/ISO/AVC"
	CodecH265 = "V_MPEGH/ISO/HEVC"
	CodecAAC  = "A_AAC"
)
