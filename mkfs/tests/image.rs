//! Library tests: images built by `Builder` read back through `Image`, and the bytes land
//! where xv6's mkfs puts them.

use abi::fs::{BSIZE, DIRSIZ, Dinode, FSMAGIC, MAXFILE, NDIRECT, ROOTINO};
use abi::{T_DIR, T_FILE};
use mkfs::{Builder, Error, Image, Layout, parse_file_arg};

/// Distinct bytes per offset, so a misplaced block shows up.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / BSIZE) as u8).collect()
}

fn build(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = Builder::new(Layout::default()).unwrap();
    for (name, data) in files {
        b.add_file(name, data).unwrap();
    }
    b.finish()
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

#[test]
fn files_of_every_shape_read_back_equal() {
    let sizes = [0, 1, BSIZE, NDIRECT * BSIZE + 1, MAXFILE * BSIZE];
    let datas: Vec<Vec<u8>> = sizes.iter().map(|&n| pattern(n)).collect();
    let names: Vec<String> = sizes.iter().map(|n| format!("f{n}")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| n.as_str())
        .zip(datas.iter().map(|d| d.as_slice()))
        .collect();
    let img = Image::open(build(&files)).unwrap();
    img.check().unwrap();
    for (name, data) in &files {
        assert_eq!(img.read_file(name).unwrap(), *data, "{name}");
        assert_eq!(
            img.read_file(&format!("/{name}")).unwrap(),
            *data,
            "/{name}"
        );
    }
    let listing = img.list_dir("/").unwrap();
    let listed: Vec<&str> = listing.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        listed,
        [".", "..", "f0", "f1", "f1024", "f12289", "f274432"]
    );
    assert_eq!(listing[0].typ, T_DIR);
    assert_eq!(listing[1].inum, ROOTINO);
    assert!(listing[2..].iter().all(|e| e.typ == T_FILE));
    assert_eq!(listing[6].size as usize, MAXFILE * BSIZE);
}

#[test]
fn superblock_sits_at_fixed_offsets_for_the_default_size() {
    let disk = build(&[]);
    assert_eq!(disk.len(), 4000 * BSIZE);
    assert!(disk[..BSIZE].iter().all(|&b| b == 0), "block 0 is unused");
    let sb = &disk[BSIZE..];
    let fields = [le32(sb, 0), le32(sb, 4), le32(sb, 8), le32(sb, 12)];
    assert_eq!(fields, [FSMAGIC, 4000, 3954, 200]); // magic, size, nblocks, ninodes
    let fields = [le32(sb, 16), le32(sb, 20), le32(sb, 24), le32(sb, 28)];
    assert_eq!(fields, [30, 2, 32, 45]); // nlog, logstart, inodestart, bmapstart
    assert!(sb[32..BSIZE].iter().all(|&b| b == 0));
}

#[test]
fn blocks_are_allocated_in_xv6_order() {
    // Data starts at 46: the root directory takes it, then each file's blocks in turn, the
    // indirect block right before the 13th data block.
    let disk = build(&[("a", &pattern(2)), ("big", &pattern((NDIRECT + 2) * BSIZE))]);
    let inode = |inum: usize| Dinode::decode(&disk[32 * BSIZE + inum * 64..]);
    let root = inode(1);
    assert_eq!((root.typ, root.nlink, root.size), (T_DIR, 1, BSIZE as u32));
    assert_eq!(root.addrs[..2], [46, 0]);
    assert_eq!(inode(2).addrs[..2], [47, 0]);
    let big = inode(3);
    assert_eq!((big.typ, big.nlink), (T_FILE, 1));
    assert_eq!(big.addrs[..NDIRECT], (48..60).collect::<Vec<u32>>()[..]);
    assert_eq!(big.addrs[NDIRECT], 60);
    assert_eq!(
        [
            le32(&disk, 60 * BSIZE),
            le32(&disk, 60 * BSIZE + 4),
            le32(&disk, 60 * BSIZE + 8)
        ],
        [61, 62, 0]
    );
    // The root's entries: ".", "..", "a", "big".
    assert_eq!(&disk[46 * BSIZE..46 * BSIZE + 4], &[1, 0, b'.', 0]);
    assert_eq!(
        &disk[46 * BSIZE + 48..46 * BSIZE + 53],
        &[3, 0, b'b', b'i', b'g']
    );
}

#[test]
fn bitmap_marks_exactly_the_blocks_in_use() {
    let mut b = Builder::new(Layout::default()).unwrap();
    b.add_file("x", &pattern(5000)).unwrap();
    let used = b.blocks_used();
    assert_eq!(used, 46 + 1 + 5);
    let img = Image::open(b.finish()).unwrap();
    for blk in 0..4000 {
        assert_eq!(img.is_allocated(blk), blk < used, "block {blk}");
    }
}

#[test]
fn bitmap_spans_several_blocks_for_big_images() {
    let layout = Layout {
        size: 20_000,
        ..Layout::default()
    };
    let sb = layout.superblock().unwrap();
    assert_eq!(
        sb.bmapstart + 3,
        sb.size - sb.nblocks,
        "20000/8192+1 = 3 bitmap blocks"
    );
    let mut b = Builder::new(layout).unwrap();
    b.add_file("huge", &pattern(MAXFILE * BSIZE)).unwrap();
    let img = Image::open(b.finish()).unwrap();
    img.check().unwrap();
    assert_eq!(img.read_file("huge").unwrap(), pattern(MAXFILE * BSIZE));
}

#[test]
fn bad_names_and_duplicates_are_refused() {
    let mut b = Builder::new(Layout::default()).unwrap();
    let long = "a".repeat(DIRSIZ + 1);
    assert!(matches!(b.add_file(&long, b""), Err(Error::BadName { .. })));
    b.add_file(&"a".repeat(DIRSIZ), b"ok").unwrap();
    assert!(matches!(b.add_file("", b""), Err(Error::BadName { .. })));
    assert!(matches!(b.add_file("a/b", b""), Err(Error::BadName { .. })));
    assert_eq!(b.add_file("..", b""), Err(Error::Duplicate("..".into())));
    b.add_file("cat", b"1").unwrap();
    assert_eq!(b.add_file("cat", b"2"), Err(Error::Duplicate("cat".into())));
    let img = Image::open(b.finish()).unwrap();
    img.check().unwrap();
    assert_eq!(img.read_file("aaaaaaaaaaaaaa").unwrap(), b"ok");
    assert_eq!(img.read_file("cat").unwrap(), b"1");
}

#[test]
fn too_large_and_exhaustion_are_refused_without_damage() {
    let mut b = Builder::new(Layout::default()).unwrap();
    let err = b
        .add_file("big", &vec![0; MAXFILE * BSIZE + 1])
        .unwrap_err();
    assert_eq!(
        err,
        Error::TooLarge {
            name: "big".into(),
            len: MAXFILE * BSIZE + 1
        }
    );
    assert!(err.to_string().contains("\"big\""));

    // 100 blocks leave 54 data blocks; the root takes one.
    let mut b = Builder::new(Layout {
        size: 100,
        ..Layout::default()
    })
    .unwrap();
    b.add_file("fits", &pattern(40 * BSIZE)).unwrap(); // 40 + indirect
    assert_eq!(
        b.add_file("nope", &pattern(13 * BSIZE)),
        Err(Error::OutOfBlocks("nope".into()))
    );
    b.add_file("last", &pattern(12 * BSIZE)).unwrap();
    assert_eq!(b.blocks_used(), 100);
    let img = Image::open(b.finish()).unwrap();
    img.check().unwrap();
    assert_eq!(img.list_dir("/").unwrap().len(), 4);

    // Inodes 1..ninodes: with 3, the root and one file.
    let mut b = Builder::new(Layout {
        ninodes: 3,
        ..Layout::default()
    })
    .unwrap();
    b.add_file("one", b"1").unwrap();
    assert_eq!(
        b.add_file("two", b"2"),
        Err(Error::OutOfInodes("two".into()))
    );
}

#[test]
fn impossible_layouts_are_refused() {
    for layout in [
        Layout {
            size: 46,
            ..Layout::default()
        },
        Layout {
            ninodes: 1,
            ..Layout::default()
        },
        Layout {
            ninodes: 70_000,
            ..Layout::default()
        },
        Layout {
            nlog: 1,
            ..Layout::default()
        },
    ] {
        assert!(
            matches!(Builder::new(layout), Err(Error::BadLayout(_))),
            "{layout:?}"
        );
    }
    assert!(
        Builder::new(Layout {
            size: 47,
            ..Layout::default()
        })
        .is_ok()
    );
}

#[test]
fn names_lose_their_directory_and_one_underscore() {
    assert_eq!(parse_file_arg("user/_ls"), ("user/_ls", "ls".to_string()));
    assert_eq!(parse_file_arg("_cat"), ("_cat", "cat".to_string()));
    assert_eq!(parse_file_arg("a/__x"), ("a/__x", "_x".to_string()));
    assert_eq!(
        parse_file_arg("docs/README"),
        ("docs/README", "README".to_string())
    );
    assert_eq!(
        parse_file_arg("host/x.txt=notes"),
        ("host/x.txt", "notes".to_string())
    );
    assert_eq!(parse_file_arg("x=_kept"), ("x", "_kept".to_string()));
}

#[test]
fn reader_reports_missing_paths_and_wrong_types() {
    let img = Image::open(build(&[("f", b"data")])).unwrap();
    assert_eq!(img.read_file("g"), Err(Error::NotFound("g".into())));
    assert_eq!(
        img.read_file("/f/x"),
        Err(Error::NotADirectory("/f/x".into()))
    );
    assert_eq!(img.read_file("/"), Err(Error::IsADirectory("/".into())));
    assert_eq!(img.list_dir("f"), Err(Error::NotADirectory("f".into())));
    assert_eq!(img.lookup("/./../f"), Ok(2));
}

#[test]
fn reader_rejects_bad_superblocks() {
    let disk = build(&[]);
    let mut bad_magic = disk.clone();
    bad_magic[BSIZE] ^= 1;
    assert!(matches!(Image::open(bad_magic), Err(Error::Corrupt(_))));
    assert!(matches!(
        Image::open(disk[..disk.len() - BSIZE].to_vec()),
        Err(Error::Corrupt(_))
    ));
    let mut overlap = disk.clone();
    overlap[BSIZE + 28..BSIZE + 32].copy_from_slice(&33u32.to_le_bytes()); // bmapstart inside the inodes
    assert!(matches!(Image::open(overlap), Err(Error::Corrupt(_))));
    assert!(matches!(Image::open(vec![0; 100]), Err(Error::Corrupt(_))));
}

#[test]
fn check_finds_bitmap_and_sharing_errors() {
    let disk = build(&[("a", &pattern(3000)), ("b", &pattern(10))]);
    Image::open(disk.clone()).unwrap().check().unwrap();
    let bitmap = 45 * BSIZE;

    let mut unmarked = disk.clone();
    unmarked[bitmap + 48 / 8] &= !(1 << (48 % 8)); // a's second block
    let err = Image::open(unmarked).unwrap().check().unwrap_err();
    assert!(
        err.to_string().contains("block 48, free in the bitmap"),
        "{err}"
    );

    let mut shared = disk.clone();
    let b_addr0 = 32 * BSIZE + 3 * 64 + 12;
    shared[b_addr0..b_addr0 + 4].copy_from_slice(&47u32.to_le_bytes()); // b points at a's block
    let err = Image::open(shared).unwrap().check().unwrap_err();
    assert!(
        err.to_string().contains("block 47 used by inodes 2 and 3"),
        "{err}"
    );

    let mut leaked = disk.clone();
    leaked[bitmap + 100 / 8] |= 1 << (100 % 8);
    let err = Image::open(leaked).unwrap().check().unwrap_err();
    assert!(err.to_string().contains("block 100 is marked"), "{err}");
}

#[test]
fn open_replays_a_committed_log() {
    let mut disk = build(&[("f", b"old contents")]);
    let home = 47; // f's data block
    disk[2 * BSIZE..2 * BSIZE + 8].copy_from_slice(&[1, 0, 0, 0, home, 0, 0, 0]);
    disk[3 * BSIZE..3 * BSIZE + 12].copy_from_slice(b"new contents");
    let img = Image::open(disk).unwrap();
    assert_eq!(img.read_file("f").unwrap(), b"new contents");
    img.check().unwrap();
}
