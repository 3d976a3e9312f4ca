/*
 * profile2.pml - profile 2 ("hardened", docs/protocol.md) as a Promela model
 * with a man in the middle, for Spin.  Companion of patent.pml: the same
 * symbolic crypto and the same attacker moves (relay, drop, swap Pu_hsm in
 * S1, swap Pu_tek or re-encrypt AUK in S3, answer in either party's place
 * with what it knows, re-encrypt a TMK it learned for the terminal), and
 * more power than patent.pml's attacker had:
 *   - it remembers the last frame of every type it saw and replays any of
 *     them to either side at any time, also into a later session;
 *   - it holds a recorded S1 answer of an old session, correctly signed by
 *     the KMS, whose transport key K_HSM_OLD has since leaked to it (a
 *     rotated shared pair, or the insider of docs/security.md "limit 1");
 *   - it owns an enrolled device of its own (device key and a certificate
 *     from the same CA, CN = SN_A): it signs whatever it likes with it;
 *   - it makes a MAC under any key it can derive (from any AUK it knows:
 *     its own, and the victim's once learned) over any data it likes;
 *   - it opens sessions of its own with the KMS for the victim's SN.
 * It cannot sign as the KMS (KDH) or as the victim's device, and cannot
 * decrypt under a key whose private half it does not hold.  (The KMS does
 * not serve SN_A here: what it would give the attacker's own device - SIGs
 * over transcripts that begin with the attacker's PUBKEY_REQ, MACs under
 * keys from the attacker's AUK - it gets from its sessions for SN_V or
 * makes itself.)
 *
 * Authenticators are symbolic: a SIG or a MAC is (key, digest), the digest
 * standing for D = SHA-256(label || T || P) of docs/protocol.md, profile 2:
 * T the transcript hash before the frame, P the frame's fields before the
 * authenticator (for a MAC, the SIG too).  Honest parties compute it from
 * their own view; the attacker can copy one it saw, or make one under a key
 * it holds, which verifies against any digest (WILD).  A verifier accepts
 * iff the key is the one it expects (the KDH certificate chained to the
 * root; the device certificate whose CN is the session's SN, stored with the
 * binding; the MAC key it derives from AUK, the direction and both nonces)
 * and the digest equals its own.  The label is implied by the key: no key
 * has two roles.  The transcript is a hash over every frame of the session,
 * fields and authenticators included; mix() is a polynomial hash modulo a
 * prime, not injective: a collision could only make a verifier accept more,
 * never less, so a clean result holds a fortiori for a collision-free hash.
 *
 * Parties: one Terminal (SN_V): a first download (S0..S7), then a
 * re-download (AUTH_INIT..CONFIRM_ACK on a new connection; the model's KMS
 * issues a new TMK version in every download, as a rotation does); a session
 * that fails is followed by the next one, NT sessions in all.  One KMS, NS
 * sessions one after the other; a session starts with whatever first frame
 * arrives.  Everything but the four fields, the authenticators and the
 * transcript (TK hash, KCVs, algorithms, lengths, session ids) is left out:
 * those fields are inside P and T like the rest, so changing them is covered
 * by changing a modelled one.
 *
 * Properties (each must verify with no error; "all" is their conjunction):
 *   secrecy    the attacker never learns a TMK the KMS issued for SN_V;
 *   auk        ... nor the victim's AUK;
 *   agreement  when the terminal completes a session (CONFIRM_ACK verified)
 *              the KMS recorded as delivered to SN_V exactly the terminal's
 *              (Pu_tek, TMK, version); when the KMS records a delivery to
 *              SN_V (TMK_CONFIRM verified), the terminal stored that TMK
 *              under that version and the bound Pu_tek is the terminal's;
 *   freshness  the terminal accepts S1 data only if the KMS signed it for
 *              this session's nonce, and a TMK only if the KMS issued it in
 *              this session; the KMS binds a TK upload for SN_V only if the
 *              terminal made it after this session's S1 answer.
 *   complete   never do two downloads complete: must FAIL with -DRELAY_ONLY
 *              (an attacker that only relays), which shows that the honest
 *              first download and re-download run to the end in the model.
 * Variants that must fail (tests/models/spin_profile2.sh checks each):
 *   -DNO_KDH_SIG     the terminal ignores SIG(kdh) (A1 pseudo-KMS): the
 *                    attacker offers its own Pu_hsm, learns AUK and makes
 *                    the terminal store its TMK (agreement, auk);
 *   -DNO_TRANSCRIPT  D without T, each authenticator covers its own frame
 *                    only: the recorded old S1 answer is replayed and the
 *                    terminal sends AUK under the leaked key (freshness,
 *                    auk, agreement);
 *   -DNO_KRD_SIG     the KMS ignores SIG(krd) on TK_UPLOAD (A2 pseudo-POS):
 *                    the attacker binds the victim's SN to a TK of its own
 *                    and receives the victim's TMK (secrecy).
 * CRND1 (AUTH_CHALLENGE's first field) is modelled as what it is since
 * decision 148: CMAC(K_k2d, "rkl-p2 crnd1" || RND1), a value bound to the
 * AUK and both nonces (CR1 below), which only a holder of K_k2d makes.  The
 * attacker gets the KMS's CRND1 of every session it opens (its own
 * nonce_t N_A, the KMS's fresh nonce_k) and replays it at will: the
 * terminal refuses it, as its nonce_t is its own.
 * And one variant that must fail, the design before decision 148:
 *   -DCRND1_ORACLE   pre-fix: the KMS's CRND1 = E(AUK, RND1) for any RND1
 *                    of an unauthenticated AUTH_INIT is an encryption
 *                    oracle (CR1 depends on the AUK only), and for an
 *                    AES-128 AUK K_k2d = E(AUK, data_k2d) with public
 *                    derivation data: two sessions of its own give the
 *                    attacker K_k2d for the terminal's nonce and one of its
 *                    choosing plus CRND1 for the terminal's RND1, and it
 *                    plays the KMS in a re-download: the terminal stores
 *                    its TMK (agreement).  Closed by the derivation mark
 *                    (decision 147) and by decision 148 (CRND1/2
 *                    as CMACs under K_k2d/K_d2k, the KMS's AUK derive-only;
 *                    docs/security.md, "CRND1 oracle"); kept so the model
 *                    shows the attack the fix removes.
 * Run: spin -a profile2.pml && cc -O2 -DCOLLAPSE -o pan pan.c &&
 *      ./pan -E -N all        (about 1.7 million states with NT=2, NS=2)
 */

#ifndef NT
#define NT	2	/* terminal sessions (first download, re-download, retries) */
#endif
#ifndef NS
#define NS	2	/* KMS sessions */
#endif

mtype = { PUBKEY_REQ, PUBKEY_RESP, TK_UPLOAD, TK_ACCEPTED, AUTH_INIT,
	AUTH_CHALLENGE, AUTH_RESPONSE, TMK_DELIVERY, TMK_CONFIRM, CONFIRM_ACK };

/* serial numbers */
#define SN_V	1	/* the victim terminal */
#define SN_A	2	/* the attacker's own enrolled device */

/* public keys (encryption) */
#define K_HSM		1	/* the KMS's Pu_hsm */
#define K_HSM_A		2	/* the attacker's key offered as Pu_hsm */
#define K_HSM_OLD	3	/* an old Pu_hsm of the KMS; its private half leaked */
#define K_TEK		4	/* the victim's Pu_tek */
#define K_TEK_A		5	/* the attacker's Pu_tek (of its own device) */

/* secret values */
#define AUK_V	1	/* the victim's AUK */
#define AUK_A	2	/* the attacker's AUK */
#define TMK_A	3	/* a TMK of the attacker's making */
#define TMK0	4	/* TMK issued by KMS session j: TMK0 + j */

/* signing keys (each with its certificate: role and subject) */
#define S_NONE	0
#define S_KDH	1	/* the KMS: KDH certificate from the CA */
#define S_DEV_V	2	/* the victim's device key: KRD certificate, CN = SN_V */
#define S_DEV_A	3	/* the attacker's device key: KRD certificate, CN = SN_A */

/* nonces: terminal session s: 1 + s; KMS session j: 3 + j; attacker; old */
#define N_A	6
#define N_OLD	7

/* MAC keys: K_x = f(AUK, direction, nonce_t, nonce_k); FORGE + auk: made by
 * the attacker from an AUK it knows, for whatever nonces the verifier uses */
#define K2D	0
#define D2K	1
#define MK(auk, dir, nt, nk)	((((auk) * 2 + (dir)) * 16 + (nt)) * 16 + (nk))
#define MK_FORGE	4096

#define WILD	(-1)
#define HP	67108859	/* prime; x * 31 + y stays below 2^31 */
#define T0	1
#define BODY(m, a, b, c, d)	((((((m) * 16 + (a)) * 16 + (b)) * 16 + (c)) * 16) + (d))

/* frame: type, four fields, SIG (signer, digest), MAC (key, digest); a
 * digest stands for (T, P) */
chan a2k = [1] of { mtype, byte, byte, byte, byte, byte, int, short, int };
chan a2t = [1] of { mtype, byte, byte, byte, byte, byte, int, short, int };

/* terminal state */
bool t_bound;			/* TK_ACCEPTED seen: later sessions are re-downloads */
byte t_floor;			/* stored key version */
byte t_stored[8];		/* t_stored[tmk] = version it was stored under */
bool t_tku_nk[8];		/* a TK upload was made after an S1 answer with this nonce_k0 */
byte t_done;			/* completed sessions */
byte t_hsm;			/* the Pu_hsm of its last TK upload (for trails) */
mtype t_want;			/* the frame type the terminal waits for */

/* KMS state, per SN (index 1, 2) and per issued TMK */
bool b_bound[3], b_conf[3];
byte b_auk[3], b_tek[3], b_dev[3], k_ver[3];
byte d_sn[8], d_tek[8], d_ver[8], d_nt[8];
bool d_done[8];
byte resp_hsm[8];		/* resp_hsm[nonce_t0] = Pu_hsm the KMS signed for it */
mtype k_want;			/* the frame type the KMS waits for (0: a first frame) */

/* the attacker */
bool knows_auk, knows_tmk;	/* victim's AUK; a TMK issued for SN_V */
byte lt = TMK_A;		/* the last TMK it learned (its own at first) */
byte ra[11], rb[11], rc[11], rd[11], rsg[11];	/* last frame of each type */
int rsd[11], rmd[11];
short rmk[11];
bool rhave[11];

bool agree_fail, fresh_fail;

/* CRND1 for (AUK, nonce_t, nonce_k) as the terminal checks it: since
 * decision 148 a CMAC under K_k2d, so bound to the AUK and both nonces; in
 * the pre-fix design E(AUK, RND1), bound to the AUK only.  (CRND2 stays a
 * proof of AUK in the model: the KMS checks MAC(d2k) over the same nonces
 * first.) */
#ifdef CRND1_ORACLE
#define CR1(auk, nt, nk)	(auk)
#else
#define CR1(auk, nt, nk)	((((auk) * 8 + (nt)) * 8 + (nk)) + 16)
#endif

#ifdef CRND1_ORACLE
/* what the attacker got from the KMS's CRND1 = E(AUK, RND1) for an RND1 of
 * its choice, per terminal nonce nt: K_k2d for (nt, N_A), since
 * K_k2d = E(AUK, data_k2d) for an AES-128 AUK (orc_k); CRND1 for the
 * terminal's RND1 of that session (orc_p) */
bool orc_k[8], orc_p[8];
#endif

inline mix(x, y) { x = (x * 31 + (y)) % HP }

#ifdef NO_TRANSCRIPT
#define DIG(x, tr, p)	x = (p)
#else
#define DIG(x, tr, p)	x = (tr); mix(x, p)
#endif

/* hash of a whole frame (for the transcript) */
inline framehash(h, m, a, b, c, d, sg, sd, mk, md)
{
	h = BODY(m, a, b, c, d);
	mix(h, sg); mix(h, sd + 1); mix(h, mk); mix(h, md + 1)
}

#define SIG_OK(who)	(sg == (who) && (sd == WILD || sd == es))
#define MAC_OK(key, auk)	((mk == (key) || mk == MK_FORGE + (auk)) && (md == WILD || md == em))

/* scratch variables back to 0 after each step, so that they do not tell
 * states apart */
inline clear()
{
	m = 0; a = 0; b = 0; c = 0; d = 0; sg = 0; sd = 0; mk = 0; md = 0;
	h = 0; es = 0; em = 0
}

/* receive on ch into the locals; es, em: the SIG and MAC digests this
 * party expects (over its transcript before the frame, and the frame's
 * fields before the authenticator: P of a MAC includes the SIG); then add
 * the frame to tr */
inline recv(ch)
{
	ch?m, a, b, c, d, sg, sd, mk, md;
	h = BODY(m, a, b, c, d);
	DIG(es, tr, h);
	mix(h, sg); mix(h, sd + 1);
	DIG(em, tr, h);
	framehash(h, m, a, b, c, d, sg, sd, mk, md);
	mix(tr, h)
}

/* what the attacker learns from a ciphertext (key k, value v) it sees */
inline learn(k, v)
{
	if
	:: (k == K_HSM_A || k == K_HSM_OLD || k == K_TEK_A) && v == AUK_V -> knows_auk = true
	:: (k == K_HSM_A || k == K_HSM_OLD || k == K_TEK_A) && v >= TMK0 ->
		lt = v;
		if
		:: d_sn[v] == SN_V -> knows_tmk = true
		:: else -> skip
		fi
	:: else -> skip
	fi
}

inline record(M, A, B, C, D, SG, SD, MK_, MD)
{
	ra[M] = A; rb[M] = B; rc[M] = C; rd[M] = D; rsg[M] = SG;
	rsd[M] = SD; rmk[M] = MK_; rmd[M] = MD;
	rhave[M] = true
}

/* send a frame: its SIG by signer (S_NONE: none), its MAC under key (0:
 * none), both over tr as it stands; then add the frame to tr.  Every frame
 * goes to the attacker, which remembers it (and learns what it can decrypt)
 * at once: nothing is gained by letting it pick the frame up later. */
inline send(M, A, B, C, D, signer, key)
{
	h = BODY(M, A, B, C, D);
	if
	:: signer != S_NONE -> DIG(sd, tr, h)
	:: else -> sd = 0
	fi;
	mix(h, signer); mix(h, sd + 1);
	if
	:: key != 0 -> DIG(md, tr, h)
	:: else -> md = 0
	fi;
	framehash(h, M, A, B, C, D, signer, sd, key, md);
	mix(tr, h);
	record(M, A, B, C, D, signer, sd, key, md);
	if
	:: M == TK_UPLOAD || M == TMK_DELIVERY -> learn(A, B)
	:: else -> skip
	fi;
	clear()
}


/* Each step of a party (receive, check, act, answer) is one atomic
 * sequence: the attacker sees every frame anyway, so interleaving inside a
 * step adds states and no behaviour. */
active proctype Terminal()
{
	mtype m;
	byte a, b, c, d, sg, s, nt, nk, tmk, ver;
	short mk;
	int sd, md, tr, h, es, em;

	do
	:: s < NT ->
		atomic {
		nt = 1 + s;
		s++;
		tr = T0;
		if
		:: !t_bound ->			/* first download */
			t_want = PUBKEY_RESP;
			send(PUBKEY_REQ, SN_V, nt, 0, 0, S_NONE, 0)
		:: else ->			/* re-download */
			t_want = AUTH_CHALLENGE;
			send(AUTH_INIT, SN_V, nt, 0, 0, S_NONE, 0)
		fi
		}
		if
		:: t_want == PUBKEY_RESP ->
			atomic {
			recv(a2t);
#ifdef NO_KDH_SIG
			if
			:: m == PUBKEY_RESP -> skip
#else
			if
			:: m == PUBKEY_RESP && SIG_OK(S_KDH) -> skip
#endif
			:: else -> goto next
			fi;
			if
			:: resp_hsm[nt] != a -> fresh_fail = true
			:: else -> skip
			fi;
			t_tku_nk[b] = true;
			t_hsm = a;
			t_want = TK_ACCEPTED;
			send(TK_UPLOAD, a, AUK_V, K_TEK, SN_V, S_DEV_V, 0)
			}
			atomic {
			recv(a2t);
			if
			:: m == TK_ACCEPTED -> t_bound = true
			:: else -> goto next
			fi;
			t_want = AUTH_CHALLENGE;
			send(AUTH_INIT, SN_V, nt, 0, 0, S_NONE, 0)
			}
		:: else -> skip
		fi;
		atomic {
		recv(a2t);
		nk = b;
		if
		:: m == AUTH_CHALLENGE && MAC_OK(MK(AUK_V, K2D, nt, nk), AUK_V) &&
		   a == CR1(AUK_V, nt, nk) -> skip
		:: else -> goto next
		fi;
		t_want = TMK_DELIVERY;
		send(AUTH_RESPONSE, AUK_V, 0, 0, 0, S_DEV_V, MK(AUK_V, D2K, nt, nk))
		}
		atomic {
		recv(a2t);
		if
		:: m == TMK_DELIVERY && MAC_OK(MK(AUK_V, K2D, nt, nk), AUK_V) &&
		   a == K_TEK && c > t_floor ->	/* only Pr_tek decrypts; no rollback */
			tmk = b; ver = c;
			t_floor = ver;
			t_stored[tmk] = ver;
			if
			:: tmk >= TMK0 && d_nt[tmk] != nt -> fresh_fail = true
			:: else -> skip
			fi
		:: else -> goto next
		fi;
		t_want = CONFIRM_ACK;
		send(TMK_CONFIRM, tmk, ver, 0, 0, S_NONE, MK(AUK_V, D2K, nt, nk))
		}
		atomic {
		recv(a2t);
		if
		:: m == CONFIRM_ACK && MAC_OK(MK(AUK_V, K2D, nt, nk), AUK_V) ->
			if
			:: d_done[tmk] && d_sn[tmk] == SN_V && d_tek[tmk] == K_TEK &&
			   d_ver[tmk] == ver -> skip
			:: else -> agree_fail = true
			fi;
			t_done++
		:: else -> skip
		fi
		}
next:		skip;
		d_step { t_want = 0; clear() }
	:: else -> break
	od
}

/* bind once; the bound TK itself is taken again until the binding is
 * confirmed (a lost TK_ACCEPTED, docs/protocol.md 8.2) */
#define REBIND_OK	(!b_bound[sn] || (!b_conf[sn] && b_auk[sn] == b && b_tek[sn] == c && b_dev[sn] == sg))

active proctype KMS()
{
	mtype m;
	byte a, b, c, d, sg, j, sn, nt, nk, tmk, ver;
	short mk;
	int sd, md, tr, h, es, em;

	do
	:: j < NS ->
		atomic {
		nk = 3 + j;
		tmk = TMK0 + j;
		j++;
		tr = T0;
		k_want = 0;
		recv(a2k);
		if
		:: m == PUBKEY_REQ && a == SN_V && !b_conf[a] ->	/* S0 */
			sn = a;
			resp_hsm[b] = K_HSM;
			k_want = TK_UPLOAD;
			send(PUBKEY_RESP, K_HSM, nk, 0, 0, S_KDH, 0)
		:: m == AUTH_INIT && a == SN_V && b_bound[a] ->	/* re-download */
			sn = a;
			nt = b;
			clear()
		:: else -> goto next
		fi
		}
		if
		:: k_want == TK_UPLOAD ->
			atomic {
			recv(a2k);
#ifdef NO_KRD_SIG
			if
			:: m == TK_UPLOAD && d == sn && a == K_HSM && REBIND_OK ->
#else
			if
			:: m == TK_UPLOAD && d == sn && SIG_OK(sn + 1) &&	/* S_DEV_V / S_DEV_A */
			   a == K_HSM && REBIND_OK ->	/* only Pr_hsm decrypts; bind once */
#endif
				b_bound[sn] = true;
				b_auk[sn] = b;
				b_tek[sn] = c;
				b_dev[sn] = sg;		/* the certificate stored with the binding */
				if
				:: sn == SN_V && !t_tku_nk[nk] -> fresh_fail = true
				:: else -> skip
				fi
			:: else -> goto next
			fi;
			k_want = AUTH_INIT;
			send(TK_ACCEPTED, 0, 0, 0, 0, S_NONE, 0)
			}
			atomic {
			recv(a2k);
			if
			:: m == AUTH_INIT && a == sn -> nt = b
			:: else -> goto next
			fi;
			clear()
			}
		:: else -> skip
		fi;
		atomic {
		k_want = AUTH_RESPONSE;
#ifdef CRND1_ORACLE
		/* a session the attacker opened: its RND1 was the derivation data of
		 * the terminal's last nonce with N_A, or the terminal's last RND1 */
		if
		:: nt == N_A && b_auk[sn] == AUK_V && rhave[AUTH_INIT] ->
			if
			:: orc_k[rb[AUTH_INIT]] = true
			:: orc_p[rb[AUTH_INIT]] = true
			fi
		:: else -> skip
		fi;
#endif
		send(AUTH_CHALLENGE, CR1(b_auk[sn], nt, nk), nk, 0, 0, S_NONE, MK(b_auk[sn], K2D, nt, nk))
		}
		atomic {
		recv(a2k);
		if
		:: m == AUTH_RESPONSE && SIG_OK(b_dev[sn]) &&
		   MAC_OK(MK(b_auk[sn], D2K, nt, nk), b_auk[sn]) && a == b_auk[sn] -> skip
		:: else -> goto next
		fi;
		k_ver[sn]++;
		ver = k_ver[sn];
		d_sn[tmk] = sn;
		d_tek[tmk] = b_tek[sn];
		d_ver[tmk] = ver;
		d_nt[tmk] = nt;
		k_want = TMK_CONFIRM;
		send(TMK_DELIVERY, b_tek[sn], tmk, ver, 0, S_NONE, MK(b_auk[sn], K2D, nt, nk))
		}
		atomic {
		recv(a2k);
		if
		:: m == TMK_CONFIRM && MAC_OK(MK(b_auk[sn], D2K, nt, nk), b_auk[sn]) &&
		   a == tmk && b == ver ->
			d_done[tmk] = true;
			b_conf[sn] = true;
			if
			:: sn == SN_V && !(t_stored[tmk] == ver && b_tek[sn] == K_TEK) ->
				agree_fail = true
			:: else -> skip
			fi
		:: else -> goto next
		fi;
		send(CONFIRM_ACK, 0, 0, 0, 0, S_NONE, MK(b_auk[sn], K2D, nt, nk))
		}
next:		skip;
		d_step { k_want = 0; clear() }
	:: else -> break
	od
}

#define REPLAY(ch, M)	ch!M, ra[M], rb[M], rc[M], rd[M], rsg[M], rsd[M], rmk[M], rmd[M]
/* a frame of the attacker's making: its SIG is its own device's, its MAC
 * under a key it derives from AUK auk; both verify against any T and P */
#define FORGE(ch, M, A, B, C, D, auk) \
	ch!M, A, B, C, D, S_DEV_A, WILD, MK_FORGE + (auk), WILD
/* the KMS may take this type now */
#define KWANTS(M)	(k_want == (M) || (k_want == 0 && (M == PUBKEY_REQ || M == AUTH_INIT)))

/*
 * Frames are injected only of the type the receiver waits for: a frame of
 * another type only ends the receiver's session, which a frame of the right
 * type with a wrong authenticator does too, so nothing is lost.
 */
active proctype Attacker()
{
	mtype m;
	byte a, b, c, d, sg, auk;
	short mk;
	int sd, md, h, es, em;

	/* the recorded start of an old session: PUBKEY_REQ and the KMS's signed
	 * S1 answer offering K_HSM_OLD */
	d_step {
		m = PUBKEY_REQ; a = SN_V; b = N_OLD; c = 0; d = 0; sg = S_NONE;
		sd = 0; mk = 0; md = 0;
		record(m, a, b, c, d, sg, sd, mk, md);
		framehash(h, m, a, b, c, d, sg, sd, mk, md);
		es = T0;
		mix(es, h);				/* T before the answer */
		m = PUBKEY_RESP; a = K_HSM_OLD; b = N_OLD; sg = S_KDH;
		h = BODY(m, a, b, c, d);
		DIG(sd, es, h);
		record(m, a, b, c, d, sg, sd, mk, md);
		clear()
	}
	/*
	 * A frame from either party reaches the other only when the attacker
	 * sends it on (or a changed copy) from its memory, at any later time:
	 * relaying, delaying, dropping (never sending it) and replaying are one
	 * move.
	 */
	do
	/* send on a remembered frame to the side that waits for its type */
	:: atomic { len(a2t) == 0 && t_want != 0 && rhave[t_want] -> REPLAY(a2t, t_want) }
	:: atomic { len(a2k) == 0 && k_want != 0 && rhave[k_want] -> REPLAY(a2k, k_want) }
	:: atomic { len(a2k) == 0 && k_want == 0 && rhave[PUBKEY_REQ] -> REPLAY(a2k, PUBKEY_REQ) }
	:: atomic { len(a2k) == 0 && k_want == 0 && rhave[AUTH_INIT] -> REPLAY(a2k, AUTH_INIT) }
#ifndef RELAY_ONLY
	/* ... changed, keeping its authenticators */
	:: atomic { len(a2t) == 0 && t_want == PUBKEY_RESP && rhave[PUBKEY_RESP] ->	/* Pu_hsm swapped */
		a2t!PUBKEY_RESP, K_HSM_A, rb[PUBKEY_RESP], rc[PUBKEY_RESP], rd[PUBKEY_RESP],
		    rsg[PUBKEY_RESP], rsd[PUBKEY_RESP], rmk[PUBKEY_RESP], rmd[PUBKEY_RESP] }
	:: atomic { len(a2k) == 0 && k_want == TK_UPLOAD && rhave[TK_UPLOAD] ->	/* Pu_tek swapped */
		a2k!TK_UPLOAD, ra[TK_UPLOAD], rb[TK_UPLOAD], K_TEK_A, rd[TK_UPLOAD],
		    rsg[TK_UPLOAD], rsd[TK_UPLOAD], rmk[TK_UPLOAD], rmd[TK_UPLOAD] }
	:: atomic { len(a2k) == 0 && k_want == TK_UPLOAD && rhave[TK_UPLOAD] && knows_auk ->
		/* AUK re-encrypted for the KMS */
		a2k!TK_UPLOAD, K_HSM, rb[TK_UPLOAD], rc[TK_UPLOAD], rd[TK_UPLOAD],
		    rsg[TK_UPLOAD], rsd[TK_UPLOAD], rmk[TK_UPLOAD], rmd[TK_UPLOAD] }
	/* answer the terminal in the KMS's place */
	:: atomic { len(a2t) == 0 && t_want != 0 ->
		if
		:: knows_auk -> auk = AUK_V
		:: true -> auk = AUK_A
		fi;
		if
		:: t_want == PUBKEY_RESP -> FORGE(a2t, PUBKEY_RESP, K_HSM_A, N_A, 0, 0, auk)
		:: t_want == TK_ACCEPTED -> a2t!TK_ACCEPTED, 0, 0, 0, 0, S_NONE, 0, 0, 0
		:: t_want == AUTH_CHALLENGE ->	/* CRND1 under a key from the AUK it knows */
			FORGE(a2t, AUTH_CHALLENGE, CR1(auk, rb[AUTH_INIT], N_A), N_A, 0, 0, auk)
		:: t_want == TMK_DELIVERY ->			/* its own TMK */
			FORGE(a2t, TMK_DELIVERY, K_TEK, TMK_A, t_floor + 1, 0, auk)
		:: t_want == TMK_DELIVERY && lt != TMK_A ->	/* a TMK it learned */
			FORGE(a2t, TMK_DELIVERY, K_TEK, lt, t_floor + 1, 0, auk)
		:: t_want == CONFIRM_ACK -> FORGE(a2t, CONFIRM_ACK, 0, 0, 0, 0, auk)
#ifdef CRND1_ORACLE
		/* the KMS's part of a session with nonce_k = N_A, MACs under the
		 * K_k2d the oracle gave (any digest: the attacker holds the key) */
		:: t_want == AUTH_CHALLENGE && orc_k[rb[AUTH_INIT]] && orc_p[rb[AUTH_INIT]] ->
			a2t!AUTH_CHALLENGE, CR1(AUK_V, rb[AUTH_INIT], N_A), N_A, 0, 0, S_NONE, 0,
			    MK(AUK_V, K2D, rb[AUTH_INIT], N_A), WILD
		:: t_want == TMK_DELIVERY && orc_k[rb[AUTH_INIT]] ->
			a2t!TMK_DELIVERY, K_TEK, TMK_A, t_floor + 1, 0, S_NONE, 0,
			    MK(AUK_V, K2D, rb[AUTH_INIT], N_A), WILD
		:: t_want == CONFIRM_ACK && orc_k[rb[AUTH_INIT]] ->
			a2t!CONFIRM_ACK, 0, 0, 0, 0, S_NONE, 0, MK(AUK_V, K2D, rb[AUTH_INIT], N_A), WILD
#endif
		fi;
		auk = 0 }
	/* talk to the KMS as a terminal claiming SN_V (signing as its own device) */
	:: atomic { len(a2k) == 0 ->
		if
		:: knows_auk -> auk = AUK_V
		:: true -> auk = AUK_A
		fi;
		if
		:: k_want == 0 -> FORGE(a2k, PUBKEY_REQ, SN_V, N_A, 0, 0, auk)
		:: k_want == 0 -> FORGE(a2k, AUTH_INIT, SN_V, N_A, 0, 0, auk)
		:: k_want == TK_UPLOAD -> FORGE(a2k, TK_UPLOAD, K_HSM, AUK_A, K_TEK_A, SN_V, auk)
		:: k_want == AUTH_INIT -> FORGE(a2k, AUTH_INIT, SN_V, N_A, 0, 0, auk)
		:: k_want == AUTH_RESPONSE -> FORGE(a2k, AUTH_RESPONSE, auk, 0, 0, 0, auk)
		:: k_want == TMK_CONFIRM -> FORGE(a2k, TMK_CONFIRM, lt, k_ver[SN_V], 0, 0, auk)
		fi;
		auk = 0 }
#endif
	od
}

ltl all { [] !(knows_tmk || knows_auk || agree_fail || fresh_fail) }
ltl secrecy { [] !knows_tmk }
ltl auk { [] !knows_auk }
ltl agreement { [] !agree_fail }
ltl freshness { [] !fresh_fail }
ltl complete { [] (t_done < 2) }
