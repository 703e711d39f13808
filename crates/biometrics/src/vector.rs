//! Unit vectors, as both embeddings (face and voice) are compared.

/// `values` scaled to unit length; `None` for an all-zero or non-finite
/// vector, which no model output for a real face or voice is.
pub(crate) fn l2_normalised(mut values: Vec<f32>) -> Option<Vec<f32>> {
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if !norm.is_finite() || norm < 1e-12 {
        return None;
    }
    values.iter_mut().for_each(|v| *v /= norm);
    Some(values)
}

/// Cosine similarity of two unit vectors, -1..1; 0 when the dimensions differ.
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
