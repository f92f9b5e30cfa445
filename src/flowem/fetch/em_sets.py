"""The six small public EM data sets of other tissues and microscopes, as registry entries
``em/<folder>/<file>`` (the folders of the shared mirror's ``em/``, each with a MANIFEST.json).

Every file is a file of a public GitHub repository at a pinned commit (byte for byte), or a TIFF
stack assembled from such PNG slices as the manifest says. They are not default inputs yet
(issue 16). The CDeep3M set is for research and non-profit use only: it is ``restricted`` and
:func:`flowem.fetch.fetch` gives it only to a caller that accepts that.
"""

from __future__ import annotations

from flowem.fetch.sources import DataFile, Part, SliceStack, github_file

#: how the manifests' stacks were written (tifffile, uncompressed, no metadata)
STACK_TIFF = {"photometric": "minisblack", "metadata": None, "software": False}
CDEEP3M_RESTRICTION = (
    "UC Regents CDeep3M licence: copy, modify and distribute for educational, research and "
    "non-profit purposes only (no commercial use)"
)


def _copies(folder, repo, commit, licence, what, files) -> list[DataFile]:
    return [
        DataFile(f"em/{folder}/{name}", github_file(repo, commit, path), sha, what, licence)
        for name, path, sha in files
    ]


def _stack(folder, name, repo, commit, sha, array_sha, licence, what, slices, **kw) -> DataFile:
    parts = tuple(Part(github_file(repo, commit, path), s) for path, s in slices)
    source = SliceStack(parts, STACK_TIFF, array_sha)
    return DataFile(f"em/{folder}/{name}", None, sha, what, licence, source=source, **kw)


EM_SETS: tuple[DataFile, ...] = (
    # Zaimi et al., Sci. Rep. 8:3816 (2018)
    *_copies(
        "axondeepseg_rat_spinalcord_sem",
        "axondeepseg/data_axondeepseg_sem",
        "a4d02a1adec4bde04267baab3770e18f441afd73",
        "MIT",
        "SEM, rat spinal-cord white matter (10 images, 70-180 nm/px, myelin bright)",
        (
            (
                "sub-rat1_sample-data1_SEM.png",
                "sub-rat1/micr/sub-rat1_sample-data1_SEM.png",
                "c93a2cfc720984f8d32827d765bfbee9e5d0b23240774a93373a2c05c8abe342",
            ),
            (
                "sub-rat2_sample-data5_SEM.png",
                "sub-rat2/micr/sub-rat2_sample-data5_SEM.png",
                "e878e6d412e0a674a67f57f983a97eac70edc41e04ab222ef4338d2653377a95",
            ),
            (
                "sub-rat3_sample-data10_SEM.png",
                "sub-rat3/micr/sub-rat3_sample-data10_SEM.png",
                "d402873851fa675b0bbaeff8ab752e92e0b8159834f416c4428f78a15883f5ce",
            ),
            (
                "sub-rat3_sample-data11_SEM.png",
                "sub-rat3/micr/sub-rat3_sample-data11_SEM.png",
                "a3fac42bb940fe20371167bc64bae94e47f8551dd699357122c161b39d9fa9e1",
            ),
            (
                "sub-rat3_sample-data9_SEM.png",
                "sub-rat3/micr/sub-rat3_sample-data9_SEM.png",
                "067af38d7f98cb7eef988d38c8821af7dc33c73146e79eeff66dc9349a336c47",
            ),
            (
                "sub-rat4_sample-data12_SEM.png",
                "sub-rat4/micr/sub-rat4_sample-data12_SEM.png",
                "d121f05fe9f03458b4dd9a9e4f0fdeba64e5cbd97ec4584415931144e012b764",
            ),
            (
                "sub-rat5_sample-data14_SEM.png",
                "sub-rat5/micr/sub-rat5_sample-data14_SEM.png",
                "40641767abf2dc5a6940c9e42e17e2e0ca7a4bfddca50016302c99a0515ba8ca",
            ),
            (
                "sub-rat6_sample-data15_SEM.png",
                "sub-rat6/micr/sub-rat6_sample-data15_SEM.png",
                "200025eda35c6f5264b37f2a5a1d361ecc2c613409d1e03d0abc3a1bc612df8c",
            ),
            (
                "sub-rat7_sample-Maxo03img60_SEM.png",
                "sub-rat7/micr/sub-rat7_sample-Maxo03img60_SEM.png",
                "952014851a21ad3cce229d8ba72ea935ad762bbe3bfb48e5f5b972971f57f566",
            ),
            (
                "sub-rat8_sample-V915_SEM.png",
                "sub-rat8/micr/sub-rat8_sample-V915_SEM.png",
                "433687677047cc3a2966a27c35325eaef89420fa0b0301d017892f70e3d87fdd",
            ),
            (
                "sub-rat1_sample-data1_SEM.json",
                "sub-rat1/micr/sub-rat1_sample-data1_SEM.json",
                "00ead0ef524ddf06ace91af6505571388bcb2b454a31a6016a0d10a9ff474bab",
            ),
            (
                "sub-rat2_sample-data5_SEM.json",
                "sub-rat2/micr/sub-rat2_sample-data5_SEM.json",
                "88fa83952631153214e16a90c13e9aafae571a1624c61011781bf4dcb9a8ebeb",
            ),
            (
                "sub-rat3_SEM.json",
                "sub-rat3/micr/sub-rat3_SEM.json",
                "93e427a28c6eccf9f83ba67e4858d2a9a19318238ead62f714fb4a05fb440b9f",
            ),
            (
                "sub-rat4_sample-data12_SEM.json",
                "sub-rat4/micr/sub-rat4_sample-data12_SEM.json",
                "93e427a28c6eccf9f83ba67e4858d2a9a19318238ead62f714fb4a05fb440b9f",
            ),
            (
                "sub-rat5_sample-data14_SEM.json",
                "sub-rat5/micr/sub-rat5_sample-data14_SEM.json",
                "52774fdd6f346b4ab6c1627eab9e1c7555dfa37bc585317034d870e66b893710",
            ),
            (
                "sub-rat6_sample-data15_SEM.json",
                "sub-rat6/micr/sub-rat6_sample-data15_SEM.json",
                "52774fdd6f346b4ab6c1627eab9e1c7555dfa37bc585317034d870e66b893710",
            ),
            (
                "sub-rat7_sample-Maxo03img60_SEM.json",
                "sub-rat7/micr/sub-rat7_sample-Maxo03img60_SEM.json",
                "6a9f99cad655d572be10e118e99153f383db9fbd0756efb0dff81134084c7a2f",
            ),
            (
                "sub-rat8_sample-V915_SEM.json",
                "sub-rat8/micr/sub-rat8_sample-V915_SEM.json",
                "6435cc9463d600f167b483af741c9a30afd68cc81d555e2994e35d7a6038fb3d",
            ),
        ),
    ),
    # Haberl et al., Nat. Methods 15:677 (2018)
    _stack(
        "cdeep3m_sbem_neuropil",
        "cdeep3m_mito_testsample_8slices_1024.tif",
        "CRBS/cdeep3m",
        "abf995802608073532f324ce57425fa1b7cf9d19",
        "ce60534c7ff30431a4e9f5c60aa142b6ca40d70e442567369eabdbf6ea0e1a7a",
        "85b850562d6198f99ca6eb3acf96494345fa1ec9da0a29dad0770f5308ea979b",
        "UC Regents CDeep3M licence: educational, research and non-profit use only",
        "SBEM neuropil, 8 x 1024 x 1024 uint8",
        (
            (
                "mito_testsample/training/images/images.010.png",
                "8a87ab65e06861324d186a86591b4509f4aa6d7456cdd0dd05a80cbc7cc11a27",
            ),
            (
                "mito_testsample/training/images/images.015.png",
                "92503aee126073a8b4ef430bb6d35585a478bc9c2c6e6cd28fc7ae31ab098044",
            ),
            (
                "mito_testsample/training/images/images.020.png",
                "aa82401cc5608fb8a5a14fedabc72526086bdc7b9e12ab9cd1cb0a9af19c6ded",
            ),
            (
                "mito_testsample/training/images/images.025.png",
                "9c7bcfb6e29b26d75182d1b95c160365bae1e69c0a0043c863a1845bb601fcf1",
            ),
            (
                "mito_testsample/validation/images/images.050.png",
                "ae2501673bca9114a67c8d198cbf85c5d7cbcd1ea0a70b51d3c6fd1dc7c54e30",
            ),
            (
                "mito_testsample/validation/images/images.055.png",
                "3a1f8ce1a2a25d7c0dd160e6f31aaa9a00f9ef7f50e7b7aafc1b77f0fcb202b4",
            ),
            (
                "mito_testsample/testset/images.081.png",
                "3abf7968699fe08eb6f4b778f834b50a961fdd0ac895c13d46e0417350ae0541",
            ),
            (
                "mito_testsample/testset/images.085.png",
                "59813e91d1542f1965528435d8732892a65cce2cea8f518816116345c9e88cc1",
            ),
        ),
        restriction=CDEEP3M_RESTRICTION,
    ),
    # von Chamier et al., Nat. Commun. (2021); Lucchi et al., IEEE TMI (2012)
    *_copies(
        "epfl_hippocampus_fibsem_crop",
        "deepimagej/models",
        "13bb89b7c9b636db93dc20acaae2a8a0d23f241a",
        "model package MIT; image data without an explicit licence: cite Lucchi et al. 2012",
        "FIB-SEM mouse CA1 hippocampus, 51 x 256 x 256 uint8",
        (
            (
                "exampleImage_3du-net_zerocostdl4mic.tif",
                "3du-net_zerocostdl4mic/exampleImage.tif",
                "2406f6df978315bbcf33d824941a6ce11f0b5dd1a25ddca634c100832d52c926",
            ),
        ),
    ),
    # Takemura et al., PNAS (2015)
    _stack(
        "fib25_fly_medulla_fibsem",
        "fib25_validation_every16th_520x520.tif",
        "janelia-flyem/neuroproof_examples",
        "ce839e17deaf4c01153827c6d028dfecfbb4b958",
        "57211be60ed3d3774228b27ac7d6a78fa9993f6995d31ce6e2b080e83701111f",
        "225834d15de7aebf7abdbb8b198267d837dcfaea15b3abf1d7cd2747ef86f42b",
        "CC BY (3.0 legal text)",
        "FIB-SEM Drosophila medulla, 33 x 520 x 520 uint8, 10 nm px, 160 nm z step",
        (
            (
                "validation_sample/grayscale_maps/iso.03490.png",
                "01b75617491b71035d4fac4194dd43f9309f010e9fa3dfbe1e8339bc680bd5af",
            ),
            (
                "validation_sample/grayscale_maps/iso.03506.png",
                "af462eeeb25fae566d038caacca69f461eb8245620cd1db409bbe4722652cb1d",
            ),
            (
                "validation_sample/grayscale_maps/iso.03522.png",
                "955a3f11d0f88bb806be0ef5106f54f1f05ddd71fbb5ad894b8c595bc12895d6",
            ),
            (
                "validation_sample/grayscale_maps/iso.03538.png",
                "18667798b402add35d8e909d8b8c65c9b6d36bfde30747baf3911cafa8348bb9",
            ),
            (
                "validation_sample/grayscale_maps/iso.03554.png",
                "1ecc205c7d48aa9afd34006a20bd6d17dfbfe2f399a98d85c44e47eccc6992f2",
            ),
            (
                "validation_sample/grayscale_maps/iso.03570.png",
                "0e88011c9ce7fa3218e417c907a5ddd1bfec3d140525faa948df058e65bc5fa7",
            ),
            (
                "validation_sample/grayscale_maps/iso.03586.png",
                "cd6052f59ea10b833fa8ae1c9dccc967c0cbf6aaba95e74a33ab4a3d297ebb64",
            ),
            (
                "validation_sample/grayscale_maps/iso.03602.png",
                "18f21c0d4da9c2da9a64c2c9f204517038895fa015ce18f821945beac5582901",
            ),
            (
                "validation_sample/grayscale_maps/iso.03618.png",
                "5060dce3b3f9c887e40c708270b67fd4997edd697c1e62d22fe4b3bc13658369",
            ),
            (
                "validation_sample/grayscale_maps/iso.03634.png",
                "b139b2d882021a1ffd4616cdbf47f59c6f0fbf98b102d3b040b7b7ef0de4a832",
            ),
            (
                "validation_sample/grayscale_maps/iso.03650.png",
                "e39974532958debdf19031e746f04dc62ddb52d2c7d4c3d860437f3dffc675a0",
            ),
            (
                "validation_sample/grayscale_maps/iso.03666.png",
                "7d375a4fb6e1b2632a902e040176080e0aa883f6daf1ae8829c121c8a25df639",
            ),
            (
                "validation_sample/grayscale_maps/iso.03682.png",
                "0c8e9d2b1d6d85c19234faaaf72aef64ff74a5ae77b0405952c2385a13c2e7ec",
            ),
            (
                "validation_sample/grayscale_maps/iso.03698.png",
                "206cd12d706d07656baf4047a0acb942c12ac4d82d488810ae6dada8d7a6b408",
            ),
            (
                "validation_sample/grayscale_maps/iso.03714.png",
                "4ec677d345594df77cd8d77d9e658197bcd46cac9ae41ab2d9b46ad3aacbb5a3",
            ),
            (
                "validation_sample/grayscale_maps/iso.03730.png",
                "1484d15a92093426c8586fe7f497262b5fce1f3d0153e46be4c7af70177d9085",
            ),
            (
                "validation_sample/grayscale_maps/iso.03746.png",
                "63dd513292662078da99103c32b032c8686f58040fba11525a1e082c1fc4ecb0",
            ),
            (
                "validation_sample/grayscale_maps/iso.03762.png",
                "6595bc8de5d8ac6ee12588e5da855d876ffc7c8fc99cee15bd9b929c500cf0d1",
            ),
            (
                "validation_sample/grayscale_maps/iso.03778.png",
                "e96939190025330e2126a54270ea61e3620d447f845ce715bb5e43e01cf86072",
            ),
            (
                "validation_sample/grayscale_maps/iso.03794.png",
                "b747f9128781ada01e610f7c82ccf9bba1ad785077ce76606917b48aba2ddf18",
            ),
            (
                "validation_sample/grayscale_maps/iso.03810.png",
                "aa6783b546e9b4c1c5a1ca9716d43de879fc540ac66aa0a0411ecfc7a0ace63f",
            ),
            (
                "validation_sample/grayscale_maps/iso.03826.png",
                "6977b10fb53e1fb84f6a992ad04718bc7707c1b5e6882ff28215f0ae51ec1343",
            ),
            (
                "validation_sample/grayscale_maps/iso.03842.png",
                "0055f5994f375bb5b045da4791f609afc781a16281c992565b52fe4c6ec23450",
            ),
            (
                "validation_sample/grayscale_maps/iso.03858.png",
                "1e5299e05c06642e5bc01fb38bf6be7d9e94a44bd60b126790cbd5565aa01621",
            ),
            (
                "validation_sample/grayscale_maps/iso.03874.png",
                "9a62a04e0370101eadbaaae81ac160c04da8b90cf307c20f3c4db2b8369ce66e",
            ),
            (
                "validation_sample/grayscale_maps/iso.03890.png",
                "11f73048718eea422a8ac14c030dc9889c7e817291232901600796668bf89338",
            ),
            (
                "validation_sample/grayscale_maps/iso.03906.png",
                "6e6ebc64a7e69b787eef81eb9eec74349eba8ba5134b4498a574c5a93b069280",
            ),
            (
                "validation_sample/grayscale_maps/iso.03922.png",
                "e4cd79cb9c043b95c4eca8461fc319a018f17bfdc54ea551ee0cb190d66bdddc",
            ),
            (
                "validation_sample/grayscale_maps/iso.03938.png",
                "512c53ee607f4de8ae8d30bb5041c6be244afa1a07c66c5a4e9e182ed86f2254",
            ),
            (
                "validation_sample/grayscale_maps/iso.03954.png",
                "81dd0871904b10b64adce38bb34925fcd50a5d289e6d76c04301ef8ec175e4bd",
            ),
            (
                "validation_sample/grayscale_maps/iso.03970.png",
                "6c41dbd4a7298050cf9a97594e15fcb0649c0c4c912533af7d40462d6477b9e4",
            ),
            (
                "validation_sample/grayscale_maps/iso.03986.png",
                "c06634bcba9a50ca171e7afe011e79c841ebdef394c03ab4d24d3d5f44622746",
            ),
            (
                "validation_sample/grayscale_maps/iso.04002.png",
                "5bd54a2387bac60269b74b91ebccbb420ed67051c3093a35d370e68e574a6519",
            ),
        ),
    ),
    # Buchholz et al., Methods Cell Biol. 152:277 (2019)
    *_copies(
        "n2v_sem_demo_crop",
        "bioimage-io/fiji-bioimage-io",
        "55c67f6d27a21a0b17fd65306b04ea7e34e9dd05",
        "model package BSD-3-Clause; cite Buchholz et al. 2019",
        "noisy SEM, 600 x 600 float32, no clean reference",
        (
            (
                "n2v_sem_demo_test_input.tif",
                "models/n2v-sem-demo/test_input.tif",
                "139eec1e434e7e1e9b6fb2017a95f9223c8ed3dcb3633da5cb7b762c873296ed",
            ),
        ),
    ),
    # Guay et al., Sci. Rep. 11:2561 (2021)
    *_copies(
        "platelet_sbfsem_2slices",
        "bio3d-vision/bio3d-vision.github.io",
        "94cbfd76a367959a7ee93ea3dcfd17e7b6f4158b",
        "US-government work cleared for public release (NIBIB)",
        "SBF-SEM human platelets, 2 x 800 x 800 uint16 PNG, 10 nm px",
        (
            (
                "platelet_50-images_z0.png",
                "media/50-images.png",
                "9bcf00e1b538290c6abd6c0203bbebbd9b2a9a30e5d796b20467174c1352afae",
            ),
            (
                "platelet_24-images_z0.png",
                "media/24-images.png",
                "c2747ebe7c4b1166bbbf0c48025048b6379c1900fbf9a080e55124767587b2ba",
            ),
        ),
    ),
)
