# orbit-bench plot: p99-over-time. Redraw with `gnuplot p99-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0.25 29.215
0.5 37.887
0.75 38.591
1 54.111
1.25 62.335
1.5 52.671
1.75 43.551

EOD
$d1 << EOD
2 71.295
2.25 50.175
2.5 42.463
2.75 49.215
3 107.903
3.25 8191.999
3.5 125.119
3.75 51.007
4 50.879
4.25 49.983
4.5 38.687
4.75 47.775

EOD
$d2 << EOD
2 40.095
2.25 30.415
2.5 31.743
2.75 37.663
3 61.087
3.25 38.239
3.5 49.439
3.75 35.295
4 24.767
4.25 26.879
4.5 23.087
4.75 22.463

EOD
$d3 << EOD
2 4.799
2.25 4.047
2.5 3.627
2.75 4.351
3 7.927
3.25 14.903
3.5 6.663
3.75 4.199
4 3.547
4.25 4.119
4.5 3.407
4.75 4.037

EOD
$d4 << EOD
0.25 16.087
0.5 24.527
0.75 25.487
0.981 31.727
EOD
$d5 << EOD
1.25 23.295
1.5 34.623
1.75 37.855
2 41.279
2.25 40.863
2.5 28.207
2.75 30.319
3 45.951

EOD
$d6 << EOD
1.25 19.151
1.5 26.335
1.75 39.391
2 44.351
2.25 33.087
2.5 19.471
2.75 28.303
3 38.559

EOD
$d7 << EOD
1.25 7.735
1.5 8.911
1.75 9.263
2 13.791
2.25 14.751
2.5 11.623
2.75 9.007
3 12.143

EOD
$d8 << EOD
0.25 90.751
0.5 41.727
0.75 98.431
1 131.967
1.25 64.927
1.5 68.287
1.75 97.407
2 60.223
2.25 111.487
2.5 105.151
2.75 46.367
3 66.751
3.24 61.343
EOD
$d9 << EOD
3.5 86.911
3.75 24264.703
4 218.239
4.25 12386.303
4.5 248.126
4.75 55.295
5 129.087
5.25 101.311
5.5 123.391
5.75 154.623
6 122.495
6.25 59.632
6.5 68.031
6.75 66.623
7 141.055
7.25 177.279
7.5 137.855
7.75 119.679
8 89.791
8.25 110.399
8.5 16252.927
8.75 998.399
9 55.135
9.25 73.279
9.5 143.487
9.75 114.687
10 64.863

10.5 79.103

EOD
$d10 << EOD
3.5 58.303
3.75 64.863
4 160.767
4.25 95.871
4.5 13872.212
4.75 16158.489
5 48.831
5.25 148.223
5.5 84.095
5.75 119.935
6 11190.271
6.25 16868.531
6.5 162.431
6.75 54.175
7 71.679
7.25 76.671
7.5 12451.839
7.75 174.335
8 42.367
8.25 92.095
8.5 16244.735
8.75 29.791
9 40.959
9.25 24182.783
9.5 135.551
9.75 77.119
10 191.231
10.25 24135.497
10.5 102.143

EOD
$d11 << EOD
3.5 21.695
3.75 50.175
4 43.263
4.25 40.223
4.5 20104.869
4.75 33.343
5 20.511
5.25 47.999
5.5 42.559
5.75 29.487
6 46.271
6.25 31.215
6.5 39.487
6.75 19.871
7 47.807
7.25 33.119
7.5 37.599
7.75 23.295
8 64.607
8.25 30.927
8.5 35.487
8.75 23.759
9 12.519
9.25 31.039
9.5 26.591
9.75 40.255
10 34.687

10.5 79.423

EOD
$d12 << EOD
0.25 19.791
0.5 19.407
0.628 19.903
EOD
$d13 << EOD
0.75 25.343
1 17.983
1.25 13.279
1.5 14.663
1.75 18.047

EOD
$d14 << EOD
0.75 4.239
1 5.763
1.25 4.791
1.5 5.223
1.75 5.571

EOD
$d15 << EOD
0.75 3.657
1 4.291
1.25 3.667
1.5 4.009
1.75 4.339

EOD
$d16 << EOD
0.25 44.511
0.5 42.815
0.75 49.855
1 69.055
1.25 44.159
1.5 45.055
1.75 49.855
2 47.679
2.177 43.487
EOD
$d17 << EOD
2.5 75.839
2.75 81.343
3 56.735
3.25 43.519
3.5 51.967
3.75 98.367
4 65.727
4.25 58.719
4.5 72.447
4.75 75.391
5 52.927
5.25 74.047
5.5 49.407
5.75 60.927
6 45.151
6.25 61.951

EOD
$d18 << EOD
2.5 44.927
2.75 51.071
3 45.343
3.25 87.999
3.5 83.711
3.75 57.407
4 68.863
4.25 47.071
4.5 46.591
4.75 50.783
5 50.303
5.25 47.935
5.5 37.887
5.75 49.759
6 69.183
6.25 85.823

EOD
$d19 << EOD
2.5 7.347
2.75 20.287
3 5.079
3.25 4.763
3.5 8.471
3.75 7.355
4 29.375
4.25 18.031
4.5 33.855
4.75 7.707
5 5.191
5.25 10.903
5.5 5.339
5.75 8.463
6 6.071
6.25 7.775

EOD
set encoding utf8
set termoption noenhanced
set title "p99 latency over time (per interval)\nrun 20261123-091240-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "p99 latency (µs, log scale)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set logscale y
set format y "%g"
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "p99-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 1 lw 1.5 ps 0.6 title "cow (none) load", \
     $d1 using 1:2 with linespoints lc rgb "#1f77b4" dt 2 pt 2 lw 1.5 ps 0.6 title "cow (none) lease_store", \
     $d2 using 1:2 with linespoints lc rgb "#1f77b4" dt 3 pt 3 lw 1.5 ps 0.6 title "cow (none) lease_renew", \
     $d3 using 1:2 with linespoints lc rgb "#1f77b4" dt 4 pt 4 lw 1.5 ps 0.6 title "cow (none) lease_get", \
     $d4 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 1 lw 1.5 ps 0.6 title "lsm (none) load", \
     $d5 using 1:2 with linespoints lc rgb "#2ca02c" dt 2 pt 2 lw 1.5 ps 0.6 title "lsm (none) lease_store", \
     $d6 using 1:2 with linespoints lc rgb "#2ca02c" dt 3 pt 3 lw 1.5 ps 0.6 title "lsm (none) lease_renew", \
     $d7 using 1:2 with linespoints lc rgb "#2ca02c" dt 4 pt 4 lw 1.5 ps 0.6 title "lsm (none) lease_get", \
     $d8 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 1 lw 1.5 ps 0.6 title "rocksdb (none) load", \
     $d9 using 1:2 with linespoints lc rgb "#d62728" dt 2 pt 2 lw 1.5 ps 0.6 title "rocksdb (none) lease_store", \
     $d10 using 1:2 with linespoints lc rgb "#d62728" dt 3 pt 3 lw 1.5 ps 0.6 title "rocksdb (none) lease_renew", \
     $d11 using 1:2 with linespoints lc rgb "#d62728" dt 4 pt 4 lw 1.5 ps 0.6 title "rocksdb (none) lease_get", \
     $d12 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 1 lw 1.5 ps 0.6 title "memory (none) load", \
     $d13 using 1:2 with linespoints lc rgb "#7f7f7f" dt 2 pt 2 lw 1.5 ps 0.6 title "memory (none) lease_store", \
     $d14 using 1:2 with linespoints lc rgb "#7f7f7f" dt 3 pt 3 lw 1.5 ps 0.6 title "memory (none) lease_renew", \
     $d15 using 1:2 with linespoints lc rgb "#7f7f7f" dt 4 pt 4 lw 1.5 ps 0.6 title "memory (none) lease_get", \
     $d16 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 1 lw 1.5 ps 0.6 title "lmdb (none) load", \
     $d17 using 1:2 with linespoints lc rgb "#9467bd" dt 2 pt 2 lw 1.5 ps 0.6 title "lmdb (none) lease_store", \
     $d18 using 1:2 with linespoints lc rgb "#9467bd" dt 3 pt 3 lw 1.5 ps 0.6 title "lmdb (none) lease_renew", \
     $d19 using 1:2 with linespoints lc rgb "#9467bd" dt 4 pt 4 lw 1.5 ps 0.6 title "lmdb (none) lease_get"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "p99-over-time.svg"
replot
unset output
