/*
 * patent.pml - the patent profile (CN103714641A, S0-S7; docs/protocol.md)
 * as a Promela model with a man in the middle, for Spin.
 *
 * Crypto is symbolic: a ciphertext is (key, value) and only the owner of
 * the key's private half learns the value; anyone who knows a value can
 * encrypt it under any public key.  The challenge-response of S5 is
 * abstracted to "a proof of knowing AUK value v": the attacker can relay a
 * proof it saw, or make one for an AUK value it knows.  Nonces, the TK hash
 * (unkeyed: the attacker recomputes it) and the session id (unauthenticated)
 * are left out because they give the attacker no obstacle.
 *
 * Every message between the terminal and the KMS passes the attacker, which
 * may forward it, change it within its knowledge, or answer in the other
 * party's place.  Properties (each expected to FAIL: the counterexample is
 * the attack, documented in docs/security.md):
 *   a4  never: terminal and KMS both finish AND the attacker knows the TMK
 *       (security brief A4: Pu_tek swap, both ends authenticate, nobody
 *       notices).
 *   a1  never: the terminal finishes with a TMK the KMS did not issue
 *       (A1: pseudo-KMS via a swapped Pu_hsm).
 * Run: spin -a patent.pml && cc -O2 -o pan pan.c && ./pan -E -N a4
 * (tests/models/spin_patent.sh does this for ctest and requires both
 * violations, with the A4 trail showing the Pu_tek swap).  Control:
 * spin -DRELAY_ONLY -a patent.pml gives an attacker that only relays or
 * drops; then both properties must verify (no error), which shows they are
 * not violated by the model alone.
 */

mtype = { PUBKEY_REQ, PUBKEY_RESP, TK_UPLOAD, TK_ACCEPTED, AUTH_INIT,
	AUTH_CHALLENGE, AUTH_RESPONSE, TMK_DELIVERY, TMK_CONFIRM, CONFIRM_ACK };

/* public keys */
#define K_NONE	0
#define K_HSM	1	/* Pu_hsm of the KMS */
#define K_HSM_A	2	/* the attacker's key, offered as Pu_hsm */
#define K_TEK	3	/* the terminal's Pu_tek */
#define K_TEK_A	4	/* the attacker's key, offered as Pu_tek */

/* secret values */
#define V_NONE	0
#define V_AUK	1	/* the terminal's AUK */
#define V_TMK	2	/* the KMS's TMK */
#define V_TMK_A	3	/* a TMK of the attacker's making */

/* message: type, key (ciphertext's key, or the public key sent), value, extra key */
chan t2a = [1] of { mtype, byte, byte, byte };
chan a2k = [1] of { mtype, byte, byte, byte };
chan k2a = [1] of { mtype, byte, byte, byte };
chan a2t = [1] of { mtype, byte, byte, byte };

bool term_done, kms_done;
byte term_tmk = V_NONE;		/* TMK the terminal stored */
bool knows_auk, knows_tmk;	/* the attacker's knowledge of secrets */

active proctype Terminal()
{
	byte k, v, x;

	t2a!PUBKEY_REQ, K_NONE, V_NONE, K_NONE;
	a2t?PUBKEY_RESP, k, v, x;		/* S1: any RSA key is accepted as Pu_hsm */
	t2a!TK_UPLOAD, k, V_AUK, K_TEK;	/* S3: E(Pu_hsm, AUK), Pu_tek */
	a2t?TK_ACCEPTED, _, _, _;
	t2a!AUTH_INIT, K_NONE, V_NONE, K_NONE;
	a2t?AUTH_CHALLENGE, _, v, _;		/* S5: proof of AUK from the "KMS" */
	if
	:: v == V_AUK -> skip
	:: else -> goto fail
	fi;
	t2a!AUTH_RESPONSE, K_NONE, V_AUK, K_NONE;
	a2t?TMK_DELIVERY, k, v, _;		/* S6: only Pr_tek decrypts */
	if
	:: k == K_TEK -> term_tmk = v
	:: else -> goto fail
	fi;
	t2a!TMK_CONFIRM, K_NONE, v, K_NONE;	/* S7: KCV of what was stored */
	a2t?CONFIRM_ACK, _, _, _;
	term_done = true;
fail:
	skip
}

active proctype KMS()
{
	byte k, v, tek, auk;

	a2k?PUBKEY_REQ, _, _, _;
	k2a!PUBKEY_RESP, K_HSM, V_NONE, K_NONE;
	a2k?TK_UPLOAD, k, v, tek;
	if
	:: k == K_HSM -> auk = v		/* S4: only Pr_hsm decrypts */
	:: else -> goto fail
	fi;
	k2a!TK_ACCEPTED, K_NONE, V_NONE, K_NONE;
	a2k?AUTH_INIT, _, _, _;
	k2a!AUTH_CHALLENGE, K_NONE, auk, K_NONE;
	a2k?AUTH_RESPONSE, _, v, _;
	if
	:: v == auk -> skip
	:: else -> goto fail
	fi;
	k2a!TMK_DELIVERY, tek, V_TMK, K_NONE;	/* S6: E(Pu_tek as bound, TMK) */
	a2k?TMK_CONFIRM, _, v, _;
	if
	:: v == V_TMK -> skip
	:: else -> goto fail
	fi;
	kms_done = true;
	k2a!CONFIRM_ACK, K_NONE, V_NONE, K_NONE;
fail:
	skip
}

/* The attacker learns a value encrypted under one of its own keys. */
inline learn(k, v)
{
	if
	:: (k == K_HSM_A || k == K_TEK_A) && v == V_AUK -> knows_auk = true
	:: (k == K_HSM_A || k == K_TEK_A) && v == V_TMK -> knows_tmk = true
	:: else -> skip
	fi
}

active proctype Attacker()
{
	mtype m;
	byte k, v, x;

	do
	:: t2a?m, k, v, x ->
		learn(k, v);
		if
		:: a2k!m, k, v, x			/* relay */
#ifndef RELAY_ONLY
		:: m == TK_UPLOAD && knows_auk ->	/* AUK re-encrypted for the KMS */
			a2k!m, K_HSM, V_AUK, x
		:: m == TK_UPLOAD ->			/* Pu_tek swapped */
			a2k!m, k, v, K_TEK_A
		:: m == TK_UPLOAD && knows_auk ->
			a2k!m, K_HSM, V_AUK, K_TEK_A
		/* answering in the KMS's place */
		:: m == TK_UPLOAD -> a2t!TK_ACCEPTED, K_NONE, V_NONE, K_NONE
		:: m == AUTH_INIT && knows_auk -> a2t!AUTH_CHALLENGE, K_NONE, V_AUK, K_NONE
		:: m == AUTH_RESPONSE ->		/* its own TMK under the real Pu_tek (public) */
			a2t!TMK_DELIVERY, K_TEK, V_TMK_A, K_NONE
		:: m == TMK_CONFIRM -> a2t!CONFIRM_ACK, K_NONE, V_NONE, K_NONE
		:: true -> skip				/* drop */
#endif
		fi
	:: k2a?m, k, v, x ->
		learn(k, v);
		if
		:: a2t!m, k, v, x			/* relay */
#ifndef RELAY_ONLY
		:: m == PUBKEY_RESP ->			/* Pu_hsm swapped */
			a2t!m, K_HSM_A, v, x
		:: m == TMK_DELIVERY && knows_tmk ->	/* TMK re-encrypted for the terminal */
			a2t!m, K_TEK, V_TMK, x
		:: true -> skip				/* drop */
#endif
		fi
	od
}

ltl a4 { [] !(term_done && kms_done && knows_tmk) }
ltl a1 { [] !(term_done && term_tmk == V_TMK_A) }
