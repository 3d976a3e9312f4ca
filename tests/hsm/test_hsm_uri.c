/*
 * Pure parts of the HSM module: RFC 7512 URI parsing (examples from RFC 7512
 * section 3) and the CK_RV translation table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hsm/hsm_int.h"

#include "rkl/err.h"

static int
parse(const char *s, struct rkl_p11_uri *u)
{
	return rkl_p11_uri_parse(s, strlen(s), u);
}

static void
test_uri_rfc7512_examples(void **state)
{
	struct rkl_p11_uri u;

	(void)state;
	/* RFC 7512 section 3, examples. */
	assert_int_equal(parse("pkcs11:", &u), 0);
	assert_string_equal(u.token, "");
	assert_int_equal(parse("pkcs11:object=my-pubkey;type=public", &u), 0);
	assert_string_equal(u.object, "my-pubkey");
	assert_int_equal(u.type, 1);
	assert_int_equal(parse("pkcs11:object=my-key;type=private?pin-source=file:/etc/token", &u), 0);
	assert_int_equal(u.type, 2);
	assert_string_equal(u.pin_source, "file:/etc/token");
	assert_int_equal(parse("pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
	    "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;"
	    "id=%69%95%3E%5C%F4%BD%EC%91;serial=", &u), RKL_ERR_FORMAT);	/* empty serial */
	assert_int_equal(parse("pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
	    "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;"
	    "id=%69%95%3E%5C%F4%BD%EC%91;serial=12", &u), 0);
	assert_string_equal(u.token, "The Software PKCS#11 Softtoken");
	assert_string_equal(u.manufacturer, "Snake Oil, Inc.");
	assert_string_equal(u.model, "1.0");
	assert_string_equal(u.serial, "12");
	assert_int_equal(u.type, 4);
	assert_true(u.has_id);
	assert_int_equal(u.id_len, 8);
	assert_memory_equal(u.id, "\x69\x95\x3E\x5C\xF4\xBD\xEC\x91", 8);
	assert_int_equal(parse("pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;"
	    "object=my-certificate;type=cert", &u), 0);
	assert_string_equal(u.token, "A name with a substring %;");
	assert_int_equal(parse("pkcs11:token=Software%20PKCS%2311%20softtoken;"
	    "manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin", &u), 0);
	assert_true(u.has_pin_value);
	assert_int_equal(parse("pkcs11:slot-description=Sun%20Metaslot", &u), 0);
	assert_int_equal(parse("pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
	    "library-description=Soft%20Token%20Library;library-version=1.23", &u), 0);
	assert_int_equal(parse("pkcs11:token=my-token;object=my-certificate;type=cert;"
	    "vendor-aaa=value-a?pin-source=file:/etc/token&vendor-bbb=value-b", &u), RKL_ERR_FORMAT);
	assert_int_equal(parse("pkcs11:token=my-token;object=my-certificate;type=cert;"
	    "x-vendor-aaa=value-a?pin-source=file:/etc/token&vendor-bbb=value-b", &u), 0);
	assert_int_equal(parse("pkcs11:slot-id=327?module-path=/usr/lib/softhsm/libsofthsm2.so", &u), 0);
	assert_true(u.has_slot_id);
	assert_int_equal(u.slot_id, 327);
	assert_string_equal(u.module_path, "/usr/lib/softhsm/libsofthsm2.so");
}

static void
test_uri_rejects(void **state)
{
	static const char *const bad[] = {
		"pkcs:token=a", "PKCS11:token=a", "pkcs11:token", "pkcs11:=a", "pkcs11:token=a;",
		"pkcs11:token=a;token=b", "pkcs11:token=%4", "pkcs11:token=%G1", "pkcs11:token=a%00b",
		"pkcs11:type=secret", "pkcs11:type=public;type=public", "pkcs11:slot-id=12a",
		"pkcs11:slot-id=99999999999999999999999", "pkcs11:id=%01;id=%02",
		"pkcs11:model=12345678901234567", "pkcs11:serial=%31%32%33%34%35%36%37%38%39%30%31%32%33%34%35%36%37",
		"pkcs11:token=123456789012345678901234567890123", "pkcs11:token=a?pin-source",
	};
	struct rkl_p11_uri u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&u, 0x77, sizeof(u));
		assert_int_equal(parse(bad[i], &u), RKL_ERR_FORMAT);
		assert_int_equal(u.token[0], 0x77);	/* untouched */
	}
	/* Longest allowed values fit exactly. */
	assert_int_equal(parse("pkcs11:token=12345678901234567890123456789012;model=1234567890123456", &u), 0);
	assert_int_equal(strlen(u.token), 32);
	/* An embedded NUL in the input is not part of the URI. */
	assert_int_equal(rkl_p11_uri_parse("pkcs11:token=a\0b", 16, &u), RKL_ERR_FORMAT);
	assert_int_equal(rkl_p11_uri_parse(NULL, 0, &u), RKL_ERR_FORMAT);
}

static void
test_rv_map(void **state)
{
	(void)state;
	assert_int_equal(hsm_rv(CKR_OK), 0);
	assert_int_equal(hsm_rv(CKR_PIN_INCORRECT), RKL_ERR_HSM_PIN);
	assert_int_equal(hsm_rv(CKR_PIN_LOCKED), RKL_ERR_HSM_PIN);
	assert_int_equal(hsm_rv(CKR_DEVICE_MEMORY), RKL_ERR_HSM_FULL);
	assert_int_equal(hsm_rv(CKR_HOST_MEMORY), RKL_ERR_HSM_FULL);
	assert_int_equal(hsm_rv(CKR_MECHANISM_INVALID), RKL_ERR_HSM_MECH);
	assert_int_equal(hsm_rv(CKR_MECHANISM_PARAM_INVALID), RKL_ERR_HSM_MECH);
	assert_int_equal(hsm_rv(CKR_TOKEN_NOT_PRESENT), RKL_ERR_HSM_TOKEN);
	assert_int_equal(hsm_rv(CKR_BUFFER_TOO_SMALL), RKL_ERR_BUFFER_SPACE);
	assert_int_equal(hsm_rv(CKR_GENERAL_ERROR), RKL_ERR_HSM);
	assert_int_equal(hsm_rv(CKR_KEY_FUNCTION_NOT_PERMITTED), RKL_ERR_HSM);
	/* Only "bad ciphertext" codes are the data's; CKR_GENERAL_ERROR is
	 * decided by a probe of the token (test_hsm_faults). */
	assert_true(hsm_rv_bad_data(CKR_ENCRYPTED_DATA_INVALID));
	assert_true(hsm_rv_bad_data(CKR_WRAPPED_KEY_INVALID));
	assert_true(hsm_rv_bad_data(CKR_WRAPPED_KEY_LEN_RANGE));
	assert_true(hsm_rv_bad_data(CKR_ENCRYPTED_DATA_LEN_RANGE));
	assert_false(hsm_rv_bad_data(CKR_GENERAL_ERROR));
	assert_false(hsm_rv_bad_data(CKR_DEVICE_ERROR));
	assert_false(hsm_rv_bad_data(CKR_FUNCTION_FAILED));
	/* A failure that cannot be the data's is never a data error. */
	assert_int_equal(hsm_rv_internal(CKR_KEY_SIZE_RANGE), RKL_ERR_HSM);
	assert_int_equal(hsm_rv_internal(CKR_DATA_LEN_RANGE), RKL_ERR_HSM);
	assert_int_equal(hsm_rv_internal(CKR_DEVICE_MEMORY), RKL_ERR_HSM_FULL);
	assert_int_equal(hsm_rv_internal(CKR_OK), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_rfc7512_examples),
		cmocka_unit_test(test_uri_rejects),
		cmocka_unit_test(test_rv_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
