//! Data loaders: MNIST IDX files written by the test, CSV files, and their error messages.

use physlearn::ep::data::{load_csv, load_idx, load_mnist_dir};
use physlearn::ep::EpError;
use std::path::Path;

/// An IDX file of unsigned bytes with the given sizes.
fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend(data);
    b
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// Five 3×4 "images" with pixel p of image i = 10 i + 19 p, and labels 0..4.
fn tiny_mnist(dir: &Path, prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let n = 5u32;
    let pixels: Vec<u8> = (0..n)
        .flat_map(|i| (0..12u8).map(move |p| (10 * i) as u8 + p * 19))
        .collect();
    let labels: Vec<u8> = vec![3, 1, 4, 1, 5];
    write(
        &dir.join(format!("{prefix}-images-idx3-ubyte")),
        &idx_bytes(&[n, 3, 4], &pixels),
    );
    write(
        &dir.join(format!("{prefix}-labels-idx1-ubyte")),
        &idx_bytes(&[n], &labels),
    );
    (pixels, labels)
}

#[test]
fn idx_loader_reads_a_file_the_test_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let (pixels, labels) = tiny_mnist(tmp.path(), "train");
    let d = load_idx(
        &tmp.path().join("train-images-idx3-ubyte"),
        &tmp.path().join("train-labels-idx1-ubyte"),
    )
    .unwrap();
    assert_eq!(d.len(), 5);
    assert_eq!(d.n_features(), 12);
    assert_eq!(d.n_classes, 6);
    assert_eq!(
        d.labels,
        labels.iter().map(|&l| l as usize).collect::<Vec<_>>()
    );
    for i in 0..5 {
        for p in 0..12 {
            assert_eq!(d.inputs[(p, i)], pixels[12 * i + p] as f64 / 255.0);
        }
    }
    // A directory with only the training files has no test set; with t10k files it has one.
    let (train, test) = load_mnist_dir(tmp.path()).unwrap();
    assert_eq!(train, d);
    assert!(test.is_none());
    tiny_mnist(tmp.path(), "t10k");
    let (_, test) = load_mnist_dir(tmp.path()).unwrap();
    assert_eq!(test.unwrap().len(), 5);
}

#[test]
fn idx_loader_reports_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("img");
    let lab = tmp.path().join("lab");
    write(&lab, &idx_bytes(&[2], &[0, 1]));
    // Truncated data: 2 images of 2×2 need 8 bytes.
    write(&img, &idx_bytes(&[2, 2, 2], &[0; 7]));
    let e = load_idx(&img, &lab).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, EpError::Idx { offset: 23, .. }), "{msg}");
    assert!(
        msg.contains(&img.display().to_string()) && msg.contains("offset 23"),
        "{msg}"
    );
    // Wrong data type (0x0D = float).
    let mut bad = idx_bytes(&[2, 2, 2], &[0; 8]);
    bad[2] = 0x0D;
    write(&img, &bad);
    let e = load_idx(&img, &lab).unwrap_err();
    assert!(matches!(e, EpError::Idx { offset: 2, .. }), "{e}");
    // Label count mismatch.
    write(&img, &idx_bytes(&[3, 2, 2], &[0; 12]));
    let e = load_idx(&img, &lab).unwrap_err();
    assert!(e.to_string().contains("3 images but"), "{e}");
    // Missing file.
    let e = load_mnist_dir(&tmp.path().join("nowhere")).unwrap_err();
    assert!(e.to_string().contains("train-images-idx3-ubyte"), "{e}");
}

#[test]
fn csv_loader_reads_and_scales_a_user_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("d.csv");
    std::fs::write(&p, "label,a,b,c\n0,0,2,4\n2,8,0,1\n\n1,3,3,3\n").unwrap();
    let d = load_csv(&p).unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(d.n_classes, 3);
    assert_eq!(d.inputs[(0, 1)], 1.0);
    assert_eq!(d.inputs[(2, 0)], 0.5);
    std::fs::write(&p, "0,1,2\n1,1,nan\n").unwrap();
    let e = load_csv(&p).unwrap_err();
    assert!(e.to_string().contains("d.csv:2:"), "{e}");
}
