/* The one place where PKCS#11 return values become rkl errors. */
#include "hsm_int.h"

#include "rkl/err.h"

int
hsm_rv(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_EXPIRED:
	case CKR_PIN_LOCKED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_USER_PIN_NOT_INITIALIZED:
		return RKL_ERR_HSM_PIN;
	case CKR_DEVICE_MEMORY:
	case CKR_HOST_MEMORY:
		return RKL_ERR_HSM_FULL;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
		return RKL_ERR_HSM_MECH;
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_WRAPPING_KEY_HANDLE_INVALID:
	case CKR_UNWRAPPING_KEY_HANDLE_INVALID:
		return RKL_ERR_HSM_TOKEN;
	case CKR_KEY_SIZE_RANGE:
	case CKR_WRAPPED_KEY_LEN_RANGE:
		return RKL_ERR_KEY_LENGTH;
	case CKR_BUFFER_TOO_SMALL:
		return RKL_ERR_BUFFER_SPACE;
	case CKR_DATA_LEN_RANGE:
		return RKL_ERR_LENGTH;
	default:
		return RKL_ERR_HSM;
	}
}

int
hsm_rv_bad_data(CK_RV rv)
{
	switch (rv) {
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_WRAPPED_KEY_INVALID:
	case CKR_WRAPPED_KEY_LEN_RANGE:
		return 1;
	default:
		return 0;
	}
}

int
hsm_rv_internal(CK_RV rv)
{
	int r = hsm_rv(rv);

	return r == 0 || rkl_err_is_internal(r) ? r : RKL_ERR_HSM;
}
