//! Channel identities at rest: a Telegram id is stored only encrypted (AES-256-GCM, a random
//! nonce per value) and found again by a keyed hash (HMAC-SHA256), both from the one
//! `SWITCHBOARD_IDENTITY_KEY`. Without the key neither can be read or matched.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("SWITCHBOARD_IDENTITY_KEY must be standard base64 of 32 random bytes (for example the output of `openssl rand -base64 32`)")]
    Malformed,
}

/// The secret behind every stored identity.
#[derive(Clone)]
pub struct IdentityKey {
    cipher: Aes256Gcm,
    mac_key: [u8; 32],
}

impl IdentityKey {
    pub fn from_base64(text: &str) -> Result<IdentityKey, KeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Malformed)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Malformed)?;
        // Two keys from one: the cipher's and the hash's never coincide.
        let mac_key = derive(&key, b"switchboard identity lookup");
        let enc_key = derive(&key, b"switchboard identity encryption");
        Ok(IdentityKey {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&enc_key)),
            mac_key,
        })
    }

    /// Nonce followed by ciphertext and tag.
    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail for inputs of our sizes.
        match self.cipher.encrypt(&nonce, plain) {
            Ok(sealed) => out.extend_from_slice(&sealed),
            Err(_) => out.clear(),
        }
        out
    }

    pub fn decrypt(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher.decrypt(Nonce::from_slice(nonce), body).ok()
    }

    /// The stable, keyed lookup value of an outside id in `space` (e.g. "telegram-user").
    pub fn lookup_hash(&self, space: &str, id: i64) -> Vec<u8> {
        let mut mac = hmac_with(&self.mac_key);
        mac.update(space.as_bytes());
        mac.update(b":");
        mac.update(id.to_string().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A keyed hash of `data` in `space` (one-time codes are stored so: a table of them
    /// cannot be searched without the key).
    pub fn mac(&self, space: &str, data: &[u8]) -> Vec<u8> {
        let mut mac = hmac_with(&self.mac_key);
        mac.update(space.as_bytes());
        mac.update(b":");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    pub fn encrypt_id(&self, id: i64) -> Vec<u8> {
        self.encrypt(id.to_string().as_bytes())
    }

    pub fn decrypt_id(&self, sealed: &[u8]) -> Option<i64> {
        let plain = self.decrypt(sealed)?;
        std::str::from_utf8(&plain).ok()?.parse().ok()
    }
}

fn derive(key: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = hmac_with(key);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 keyed with 32 bytes: HMAC pads a key shorter than its 64-byte block with zeros,
/// so the padded block is the same key (and needs no fallible length check).
fn hmac_with(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> IdentityKey {
        IdentityKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
            .unwrap()
    }

    #[test]
    fn ids_round_trip_and_never_appear_in_clear() {
        let k = key();
        let sealed = k.encrypt_id(123456789);
        assert!(!String::from_utf8_lossy(&sealed).contains("123456789"));
        assert_eq!(k.decrypt_id(&sealed), Some(123456789));
        assert_ne!(sealed, k.encrypt_id(123456789), "a fresh nonce each time");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(k.decrypt_id(&tampered), None);
    }

    #[test]
    fn lookup_hash_is_stable_keyed_and_spaced() {
        let k = key();
        assert_eq!(k.lookup_hash("u", 5), k.lookup_hash("u", 5));
        assert_ne!(k.lookup_hash("u", 5), k.lookup_hash("u", 6));
        assert_ne!(k.lookup_hash("u", 5), k.lookup_hash("v", 5));
        let other =
            IdentityKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([8u8; 32]))
                .unwrap();
        assert_ne!(k.lookup_hash("u", 5), other.lookup_hash("u", 5));
    }

    #[test]
    fn the_padded_key_is_the_same_hmac_key() {
        let key = [3u8; 32];
        let mut a = hmac_with(&key);
        let mut b = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        a.update(b"x");
        b.update(b"x");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(IdentityKey::from_base64("short").is_err());
        assert!(IdentityKey::from_base64(
            &base64::engine::general_purpose::STANDARD.encode([1u8; 16])
        )
        .is_err());
    }
}
