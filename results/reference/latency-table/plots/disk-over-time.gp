# orbit-bench plot: disk-over-time. Redraw with `gnuplot disk-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0 0.007828
0.315 0.320147
0.671 0.861685
1.056 1.527923
1.311 1.83991
1.69 2.282655
2.034 2.715776
2.284 3.095057
2.554 3.268697
2.856 3.476484
3.303 3.656435
3.583 3.736941
3.996 4.140844
4.318 4.309887
4.608 4.495066
4.901 4.602761
EOD
$d1 << EOD
0 0.000043
0.327 1.17997
0.665 1.834712
0.961 2.176449
1.313 2.621828
1.621 2.826335
2.069 3.041769
2.341 3.324781
2.611 3.493429
2.929 4.242766
3.153 4.293352
EOD
$d2 << EOD
0 0.024659
0.332 0.164142
0.728 0.575213
1.004 0.73169
1.356 0.917345
1.728 1.182221
1.988 1.372333
2.328 1.589558
2.584 1.712566
2.937 2.036397
3.204 2.20108
3.56 2.456684
4.012 2.537857
4.265 2.581318
4.577 2.587982
5.052 2.664013
5.32 2.697468
5.616 2.759007
6.016 2.91421
6.344 2.931786
6.612 2.981463
6.922 3.09567
7.208 3.251292
7.514 3.362946
7.788 3.422027
8.047 3.450574
8.54 3.527994
8.844 3.661401
9.222 3.961035
9.54 4.037035
9.852 4.123739
10.104 4.282837
10.363 4.282837
10.76 4.318071
EOD
$d3 << EOD
0 0
0.338 0
0.677 0
0.969 0
1.257 0
1.573 0
1.783 0
EOD
$d4 << EOD
0 0.007813
0.313 0.578125
0.67 1.03125
0.922 1.574219
1.182 1.957031
1.531 2.382813
1.894 2.910156
2.22 3.242188
2.559 3.507813
2.869 3.742188
3.244 3.921875
3.496 4.066406
3.75 4.144531
4.023 4.226563
4.568 4.703125
4.831 4.8125
5.254 5.101563
5.58 5.355469
5.846 5.519531
6.245 5.742188
6.312 5.742188
EOD
set encoding utf8
set termoption noenhanced
set title "Disk usage over time (bytes of the engine's files)\nrun 20261123-091240-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "disk usage (MiB)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set yrange [0:*]
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "disk-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 1 lw 1.5 ps 0.5 title "cow (none)", \
     $d1 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 1 lw 1.5 ps 0.5 title "lsm (none)", \
     $d2 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 1 lw 1.5 ps 0.5 title "rocksdb (none)", \
     $d3 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 1 lw 1.5 ps 0.5 title "memory (none)", \
     $d4 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 1 lw 1.5 ps 0.5 title "lmdb (none)"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "disk-over-time.svg"
replot
unset output
