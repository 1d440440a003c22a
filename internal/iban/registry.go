package iban

import (
	"strconv"
	"strings"
)

// registryText is the ISO 13616 IBAN registry (SWIFT release 100, 2025),
// one country a line: code, IBAN length, BBAN structure in the registry's
// own notation (n digits, a upper-case letters, c both), the bank
// identifier's offset and length inside the BBAN, and the registry's
// example IBAN. Territories that issue IBANs under another country's code
// (GF, GP, IM, AX…) have no line of their own: their IBANs start FR, GB, FI.
const registryText = `
AD 24 4!n4!n12!c 0 4 AD1200012030200359100100
AE 23 3!n16!n 0 3 AE070331234567890123456
AL 28 8!n16!c 0 3 AL47212110090000000235698741
AT 20 5!n11!n 0 5 AT611904300234573201
AZ 28 4!a20!c 0 4 AZ21NABZ00000000137010001944
BA 20 3!n3!n8!n2!n 0 3 BA391290079401028494
BE 16 3!n7!n2!n 0 3 BE68539007547034
BG 22 4!a4!n2!n8!c 0 4 BG80BNBG96611020345678
BH 22 4!a14!c 0 4 BH67BMAG00001299123456
BI 27 5!n5!n11!n2!n 0 5 BI4210000100010000332045181
BR 29 8!n5!n10!n1!a1!c 0 8 BR1800360305000010009795493C1
BY 28 4!c4!n16!c 0 4 BY13NBRB3600900000002Z00AB00
CH 21 5!n12!c 0 5 CH9300762011623852957
CR 22 4!n14!n 0 4 CR05015202001026284066
CY 28 3!n5!n16!c 0 3 CY17002001280000001200527600
CZ 24 4!n6!n10!n 0 4 CZ6508000000192000145399
DE 22 8!n10!n 0 8 DE89370400440532013000
DJ 27 5!n5!n11!n2!n 0 5 DJ2100010000000154000100186
DK 18 4!n9!n1!n 0 4 DK5000400440116243
DO 28 4!c20!n 0 4 DO28BAGR00000001212453611324
EE 20 2!n2!n11!n1!n 0 2 EE382200221020145685
EG 29 4!n4!n17!n 0 4 EG380019000500000000263180002
ES 24 4!n4!n1!n1!n10!n 0 4 ES9121000418450200051332
FI 18 3!n11!n 0 3 FI2112345600000785
FK 18 2!a12!n 0 2 FK88SC123456789012
FO 18 4!n9!n1!n 0 4 FO6264600001631634
FR 27 5!n5!n11!c2!n 0 5 FR1420041010050500013M02606
GB 22 4!a6!n8!n 0 4 GB29NWBK60161331926819
GE 22 2!a16!n 0 2 GE29NB0000000101904917
GI 23 4!a15!c 0 4 GI75NWBK000000007099453
GL 18 4!n9!n1!n 0 4 GL8964710001000206
GR 27 3!n4!n16!c 0 3 GR1601101250000000012300695
GT 28 4!c20!c 0 4 GT82TRAJ01020000001210029690
HN 28 4!a20!n 0 4 HN88CABF00000000000250005469
HR 21 7!n10!n 0 7 HR1210010051863000160
HU 28 3!n4!n1!n15!n1!n 0 3 HU42117730161111101800000000
IE 22 4!a6!n8!n 0 4 IE29AIBK93115212345678
IL 23 3!n3!n13!n 0 3 IL620108000000099999999
IQ 23 4!a3!n12!n 0 4 IQ98NBIQ850123456789012
IS 26 4!n2!n6!n10!n 0 2 IS140159260076545510730339
IT 27 1!a5!n5!n12!c 1 5 IT60X0542811101000000123456
JO 30 4!a4!n18!c 0 4 JO94CBJO0010000000000131000302
KW 30 4!a22!c 0 4 KW81CBKU0000000000001234560101
KZ 20 3!n13!c 0 3 KZ86125KZT5004100100
LB 28 4!n20!c 0 4 LB62099900000001001901229114
LC 32 4!a24!c 0 4 LC55HEMM000100010012001200023015
LI 21 5!n12!c 0 5 LI21088100002324013AA
LT 20 5!n11!n 0 5 LT121000011101001000
LU 20 3!n13!c 0 3 LU280019400644750000
LV 21 4!a13!c 0 4 LV80BANK0000435195001
LY 25 3!n3!n15!n 0 3 LY83002048000020100120361
MC 27 5!n5!n11!c2!n 0 5 MC5811222000010123456789030
MD 24 2!c18!c 0 2 MD24AG000225100013104168
ME 22 3!n13!n2!n 0 3 ME25505000012345678951
MK 19 3!n10!c2!n 0 3 MK07250120000058984
MN 20 4!n12!n 0 4 MN121234123456789123
MR 27 5!n5!n11!n2!n 0 5 MR1300020001010000123456753
MT 31 4!a5!n18!c 0 4 MT84MALT011000012345MTLCAST001S
MU 30 4!a2!n2!n12!n3!n3!a 0 6 MU17BOMM0101101030300200000MUR
NI 28 4!a20!n 0 4 NI45BAPR00000013000003558124
NL 18 4!a10!n 0 4 NL91ABNA0417164300
NO 15 4!n6!n1!n 0 4 NO9386011117947
OM 23 3!n16!c 0 3 OM810180000001299123456
PK 24 4!a16!c 0 4 PK36SCBL0000001123456702
PL 28 8!n16!n 0 3 PL61109010140000071219812874
PS 29 4!a21!c 0 4 PS92PALS000000000400123456702
PT 25 4!n4!n11!n2!n 0 4 PT50000201231234567890154
QA 29 4!a21!c 0 4 QA58DOHB00001234567890ABCDEFG
RO 24 4!a16!c 0 4 RO49AAAA1B31007593840000
RS 22 3!n13!n2!n 0 3 RS35260005601001611379
RU 33 9!n5!n15!c 0 9 RU0304452522540817810538091310419
SA 24 2!n18!c 0 2 SA0380000000608010167519
SC 31 4!a2!n2!n16!n3!a 0 6 SC18SSCB11010000000000001497USD
SD 18 2!n12!n 0 2 SD2129010501234001
SE 24 3!n16!n1!n 0 3 SE4550000000058398257466
SI 19 5!n8!n2!n 0 2 SI56263300012039086
SK 24 4!n6!n10!n 0 4 SK3112000000198742637541
SM 27 1!a5!n5!n12!c 1 5 SM86U0322509800000000270100
SO 23 4!n3!n12!n 0 4 SO211000001001000100141
ST 25 4!n4!n11!n2!n 0 4 ST23000100010051845310146
SV 28 4!a20!n 0 4 SV62CENR00000000000000700025
TL 23 3!n14!n2!n 0 3 TL380080012345678910157
TN 24 2!n3!n13!n2!n 0 2 TN5910006035183598478831
TR 26 5!n1!n16!c 0 5 TR330006100519786457841326
UA 29 6!n19!c 0 6 UA213223130000026007233566001
VA 22 3!n15!n 0 3 VA59001123000012345678
VG 24 4!a16!n 0 4 VG96VPVG0000012345678901
XK 20 4!n10!n2!n 0 2 XK051212012345678906
YE 30 4!a4!n18!c 0 4 YE15CBYE0001018861234567891234
`

// country is one registry entry, with its BBAN structure expanded to one
// character class per position so that validation is a single pass.
type country struct {
	code      string
	length    int
	classes   []byte // 'n', 'a' or 'c' for each BBAN position
	bankStart int    // offset of the bank identifier inside the BBAN
	bankLen   int
	example   string
}

var registry = mustParseRegistry(registryText)

func mustParseRegistry(text string) map[string]*country {
	out := make(map[string]*country)
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 {
			panic("iban: bad registry line: " + line)
		}
		c := &country{code: f[0], example: f[5]}
		c.length = mustAtoi(f[1])
		c.bankStart = mustAtoi(f[3])
		c.bankLen = mustAtoi(f[4])
		c.classes = expandStructure(f[2])
		if len(c.classes)+4 != c.length {
			panic("iban: structure does not match length: " + line)
		}
		out[c.code] = c
	}
	return out
}

// expandStructure turns "4!a10!n" into "aaaannnnnnnnnn".
func expandStructure(s string) []byte {
	var out []byte
	for len(s) > 0 {
		i := strings.IndexByte(s, '!')
		n := mustAtoi(s[:i])
		class := s[i+1]
		for range n {
			out = append(out, class)
		}
		s = s[i+2:]
	}
	return out
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic("iban: bad number in registry: " + s)
	}
	return n
}

// Countries returns the registry's country codes, for documentation and tests.
func Countries() []string {
	out := make([]string, 0, len(registry))
	for code := range registry {
		out = append(out, code)
	}
	return out
}

// Example returns the registry's example IBAN for a country code, or "".
func Example(countryCode string) string {
	if c, ok := registry[countryCode]; ok {
		return c.example
	}
	return ""
}
